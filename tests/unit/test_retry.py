from daemon.core.retry import OK, PERMANENT, TEMPORARY, backoff, classify_smtp


def test_classify():
    assert classify_smtp(250) == OK
    assert classify_smtp(451) == TEMPORARY
    assert classify_smtp(421) == TEMPORARY
    assert classify_smtp(None) == TEMPORARY
    assert classify_smtp(550) == PERMANENT
    assert classify_smtp(554) == PERMANENT


def test_backoff_grows_is_capped_and_jittered():
    assert backoff(1, 0.5) == 5.0
    assert backoff(2, 0.5) == 10.0
    assert backoff(3, 0.5) == 20.0
    assert backoff(30, 0.5) == 600.0
    assert backoff(1, 0.0) == 4.0
    assert 5.9 < backoff(1, 0.999) < 6.0
