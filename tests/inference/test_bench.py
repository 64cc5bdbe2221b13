"""bench: a fingerprint model's end-to-end cost per capture (segmentation and all its patches), not only per patch."""


def test_bench_reports_a_fingerprints_cost_per_capture_with_all_its_patches(trained_run):
    from spoofguard.inference.bench import bench, default_print

    rows = bench(trained_run.bundle, backends=["torch"], runs=3, seconds=0.05)
    (r,) = rows
    assert r.views_per_capture == 1  # the model alone: one patch
    assert r.capture_views > 1 and r.pipeline_fps > 0 and r.pipeline_p50_ms > r.latency_p50_ms  # a print is many patches
    assert default_print().shape == (500, 500, 1)
