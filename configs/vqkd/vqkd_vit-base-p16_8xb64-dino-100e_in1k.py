# VQ-KD on ImageNet-1k with a DINO ViT-B/16 teacher (768-d targets); the recipe of the CLIP
# config. The teacher loads a local DINO release file;
# another one: --cfg-options model.teacher.checkpoint=PATH.
_base_ = ['./vqkd_vit-base-p16_8xb64-clip-100e_in1k.py']
model = dict(
    tokenizer=dict(target_dims=768),
    teacher=dict(_delete_=True, type='DINOTeacher', arch='base', img_size=224, patch_size=16,
                 checkpoint='checkpoints/dino_vitbase16_pretrain.pth'))
