# VQ-KD tokenizer training with a DINO ViT-B/16 teacher (768-d targets). The teacher loads a
# local DINO release file: in a child config
# model = dict(teacher=dict(checkpoint='PATH')), or --cfg-options model.teacher.checkpoint=PATH.
_base_ = ['./vqkd_vit-base-p16_clip.py']
model = dict(
    tokenizer=dict(target_dims=768),
    teacher=dict(_delete_=True, type='DINOTeacher', arch='base', img_size=224, patch_size=16,
                 checkpoint='checkpoints/dino_vitbase16_pretrain.pth'))
