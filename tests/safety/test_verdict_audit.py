"""Verdicts counted for metrics and logged without the prompt in privacy mode."""

from __future__ import annotations

import logging
import threading

from safety import SafetyVerdict, VerdictCounter, log_verdict

REFUSED = SafetyVerdict(False, "violence", ("gore",), "lexicon", "refused (category: violence)")
ALLOWED = SafetyVerdict(True)


def test_the_counter_counts_by_allowed_and_category():
    counter = VerdictCounter()
    for verdict in (REFUSED, REFUSED, ALLOWED):
        counter.record(verdict)
    assert counter.counts() == {(False, "violence"): 2, (True, None): 1}
    assert counter.rejected() == {"violence": 2}


def test_the_counter_loses_nothing_across_threads():
    counter = VerdictCounter()

    def work() -> None:
        for _ in range(2000):
            counter.record(REFUSED)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.counts() == {(False, "violence"): 16000}


def test_privacy_mode_logs_the_verdict_without_the_prompt(caplog):
    prompt = "a very private prompt about gore"
    with caplog.at_level(logging.DEBUG, logger="safety"):
        log_verdict(REFUSED, prompt, log_prompts=False)
        log_verdict(ALLOWED, prompt, log_prompts=False)
    text = caplog.text
    assert "category=violence" in text and "layer=lexicon" in text
    assert "private" not in text and "gore" not in text
    assert f"<{len(prompt)} characters, not logged>" in text


def test_prompts_are_logged_when_allowed_but_never_the_matched_words(caplog):
    with caplog.at_level(logging.INFO, logger="safety"):
        log_verdict(REFUSED, "a scene", log_prompts=True)
    assert "'a scene'" in caplog.text and "gore" not in caplog.text
