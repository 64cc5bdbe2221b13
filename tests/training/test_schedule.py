import pytest

from spoofguard.training.module import warmup_cosine


@pytest.mark.parametrize("total", [1, 2, 3, 10, 11, 1000])
def test_warmup_cosine_is_defined_for_any_run_length(total):
    f = warmup_cosine(total)
    values = [f(s) for s in range(total + 2)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert max(values) == pytest.approx(1.0)
    if total >= 100:
        assert values[0] < values[total // 20] < values[total // 10 - 1] == pytest.approx(1.0)  # warms up
    if total >= 10:
        assert values[total] == pytest.approx(0.0, abs=1e-6)  # decays to zero at the end
