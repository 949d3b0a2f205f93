from .codebook_usage import CodebookUsageMetric

__all__ = ['CodebookUsageMetric']
