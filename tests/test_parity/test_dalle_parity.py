"""The DALL-E dVAE against OpenAI's ``dall_e`` package (Encoder / Decoder, release layout)."""
import dall_e
import torch
import torch.nn.functional as F

from mmbeit.models.tokenizers import DALLEdVAE

from .parity import assert_parity

VOCAB, HID = 512, 64  # the package's smallest allowed vocabulary and width


def test_tokens_and_reconstruction_equal_the_dall_e_package(tmp_path):
    torch.manual_seed(0)
    enc = dall_e.Encoder(n_hid=HID, n_blk_per_group=1, vocab_size=VOCAB)
    dec = dall_e.Decoder(n_init=32, n_hid=HID, n_blk_per_group=1, vocab_size=VOCAB)
    with torch.no_grad():  # the package initialises biases to zero: make them count
        for p in [*enc.parameters(), *dec.parameters()]:
            if p.ndim == 1:
                p.normal_(std=0.1)
    enc_path, dec_path = tmp_path / 'encoder.pth', tmp_path / 'decoder.pth'
    torch.save(enc.state_dict(), enc_path)
    torch.save(dec.state_dict(), dec_path)
    ours = DALLEdVAE(encoder=dict(n_hid=HID, n_blk_per_group=1, num_tokens=VOCAB),
                     decoder=dict(n_init=32, n_hid=HID, n_blk_per_group=1),
                     checkpoint=str(enc_path), decoder_checkpoint=str(dec_path)).eval()

    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        want_logits = enc(dall_e.map_pixels(x))
        ids = want_logits.argmax(1)
        # the package runs in fp32 only (it refuses float64 inputs)
        assert_parity(ours.encode_logits, lambda t: enc(dall_e.map_pixels(t)), x,
                      modules=(ours, enc), ref_runs_fp64=False)
        assert torch.equal(ours.tokenize(x), ids)

        one_hot = F.one_hot(ids, VOCAB).permute(0, 3, 1, 2).float()
        modules = dict(modules=(ours, dec), ref_runs_fp64=False)
        assert_parity(ours.decode_stats, dec, one_hot, **modules)
        assert_parity(lambda _: ours.decode_stats(ids), dec, one_hot, **modules)
        assert_parity(lambda _: ours.decode(ids),
                      lambda t: dall_e.unmap_pixels(torch.sigmoid(dec(t)[:, :3])), one_hot,
                      **modules)
