"""CodebookUsageHook windows / json curve and CodebookUsageMetric over a validation pass."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from mmbeit.engine.hooks import CodebookUsageHook
from mmbeit.evaluation.metrics import CodebookUsageMetric
from mmbeit.models.tokenizers import NormEMAQuantizer


class _Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quantize = NormEMAQuantizer(8, 4, dead_code_window=0)
        self.quantize.embedding.initted.fill_(1)


def test_hook_logs_window_usage_writes_curve_and_resets(tmp_path):
    model = _Model()
    hub = MessageHub.get_instance('codebook_hook_test')
    runner = SimpleNamespace(model=model, work_dir=str(tmp_path), iter=0, epoch=0,
                             message_hub=hub, log_processor=SimpleNamespace(custom_cfg=[]))
    hook = CodebookUsageHook(interval=2)
    hook.before_train(runner)
    # the log shows each window's value (as the json does), not a mean over past windows
    assert dict(data_src='codebook_usage_pct', method_name='current') in \
        runner.log_processor.custom_cfg
    q = model.quantize.train()
    for it in range(4):
        runner.iter = it
        q(q.codebook[[0, 1, 2] if it < 2 else [3]].clone())  # 3 codes, then 1 code
        hook.after_train_iter(runner, it)
    curve = json.loads((tmp_path / 'codebook_usage.json').read_text())
    assert [p['iter'] for p in curve] == [2, 4]
    assert [p['used_codes'] for p in curve] == [3, 1]
    assert curve[0]['usage'] == pytest.approx(37.5)
    assert curve[0]['perplexity'] == pytest.approx(3.0)
    assert hub.get_scalar('train/codebook_usage_pct').current() == pytest.approx(12.5)
    assert float(q.usage_counts.sum()) == 0  # window reset


def test_metric_counts_codes_over_all_batches():
    metric = CodebookUsageMetric(num_tokens=10)
    metric.process(None, [dict(pred_tokens=torch.tensor([[0, 1], [1, 1]]))])
    metric.process(None, [dict(pred_tokens=torch.tensor([[2, 2], [3, 0]]))])
    out = metric.compute_metrics(metric.results)
    assert out['usage'] == pytest.approx(40.0) and out['used_codes'] == 4
    p = np.array([2, 3, 2, 1]) / 8
    assert out['perplexity'] == pytest.approx(float(np.exp(-(p * np.log(p)).sum())))
    with pytest.raises(ValueError, match='num_tokens'):
        metric.process(None, [dict(pred_tokens=torch.tensor([10]))])
