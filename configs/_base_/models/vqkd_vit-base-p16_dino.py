# VQ-KD tokenizer training with a DINO ViT-B/16 teacher (768-d targets). The teacher loads a
# local DINO release file: set `teacher_checkpoint` (or model.teacher.checkpoint=PATH).
_base_ = ['./vqkd_vit-base-p16_clip.py']
teacher_checkpoint = 'checkpoints/dino_vitbase16_pretrain.pth'
model = dict(
    tokenizer=dict(target_dims=768),
    teacher=dict(_delete_=True, type='DINOTeacher', arch='base', img_size=224, patch_size=16,
                 checkpoint=teacher_checkpoint))
