"""VQ-KD teachers against the reference models: DINO = timm ``VisionTransformer`` (the DINO
release keys), CLIP = open_clip's ViT-B-16 image tower (the OpenAI layout, QuickGELU)."""
import open_clip
import torch
from timm.models.vision_transformer import VisionTransformer

from mmbeit.models.teachers import CLIPTeacher, DINOTeacher
from mmbeit.models.teachers.base import IMAGENET_MEAN, IMAGENET_STD
from mmbeit.models.teachers.clip import CLIP_MEAN, CLIP_STD

from .parity import assert_parity, randomize_


def _normalise(x, mean, std):
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def test_dino_teacher_equals_timm_vit_patch_features(tmp_path):
    torch.manual_seed(0)
    ref = randomize_(VisionTransformer(img_size=32, patch_size=8, embed_dim=64, depth=2,
                                       num_heads=4, num_classes=0), seed=4).eval()
    path = tmp_path / 'dino_vit_pretrain.pth'
    torch.save(ref.state_dict(), path)  # DINO releases a bare state dict
    teacher = DINOTeacher(arch=dict(embed_dims=64, num_layers=2, num_heads=4), img_size=32,
                          patch_size=8, checkpoint=str(path))
    x = torch.rand(2, 3, 32, 32)
    assert_parity(teacher, lambda t: ref.forward_features(
        _normalise(t, IMAGENET_MEAN, IMAGENET_STD))[:, 1:], x, modules=(teacher, ref))


def test_clip_teacher_equals_open_clip_vit_b16_tokens(tmp_path):
    cfg = open_clip.get_model_config('ViT-B-16')
    # ViT-B-16's widths, heads and patch size; fewer blocks / a smaller image and text tower
    # keep it fast on CPU without changing any key name or shape rule
    cfg['vision_cfg'].update(layers=2, image_size=64)
    cfg['text_cfg'].update(layers=1, vocab_size=64, context_length=8)
    torch.manual_seed(0)
    ref = randomize_(open_clip.CLIP(**cfg, quick_gelu=True), seed=5, scale=0.05).eval()
    path = tmp_path / 'ViT-B-16.pt'
    torch.save(ref.state_dict(), path)  # the whole model, as OpenAI's state dict
    width = cfg['vision_cfg']['width']
    teacher = CLIPTeacher(img_size=64, patch_size=16, width=width, layers=2,
                          out_dims=cfg['embed_dim'], checkpoint=str(path))
    x = torch.rand(2, 3, 64, 64)
    ref.visual.output_tokens = True

    def want(t):  # patch tokens after ln_post, projected
        _, tokens = ref.visual(_normalise(t, CLIP_MEAN, CLIP_STD))
        return tokens @ ref.visual.proj

    with torch.no_grad():
        assert want(x).shape == (2, 16, 512)
    assert_parity(teacher, want, x, modules=(teacher, ref))
