"""The IVR's spoken answers, as events into the pure menu (ccari.voice.ivr)."""

from ccari.voice.ivr import (
    Finish,
    Ivr,
    Menu,
    Play,
    StartTimer,
    StopListening,
    StopPlayback,
    spoken,
)

MENU = Menu(
    prompt="sound:welcome",
    invalid_prompt="sound:invalid",
    timeout_s=4.0,
    max_tries=4,
    options={"1": {"skill": "sales"}, "2": {"skill": "support"}},
    default_attributes={"skill": "support"},
    labels={"1": "sales", "2": "support"},
)


def test_speaking_stops_the_prompt_and_a_recognised_option_finishes():
    ivr = Ivr(MENU)
    ivr.start()
    # barge-in: the prompt stops, the timer starts again (a new generation)
    assert ivr.on_speech_started() == [StopPlayback(), StartTimer(4.0, 2)]
    assert ivr.on_playback_finished(1) == []  # the stopped prompt's end is stale
    assert ivr.on_speech("support", 0.93, "2") == [Finish({"skill": "support"}, "2")]
    assert ivr.history == ["said:support:0.93"]


def test_an_utterance_not_understood_reprompts_and_the_second_falls_back_to_digits():
    ivr = Ivr(MENU)
    ivr.start()
    ivr.on_speech_started()
    assert ivr.on_speech("", 0.0, None) == [Play(("sound:invalid", "sound:welcome"), 3)]
    ivr.on_speech_started()
    assert ivr.on_speech("three", 0.2, None) == [
        StopListening(), Play(("sound:invalid", "sound:welcome"), 5)]
    # from now on speech is ignored, digits work
    assert ivr.on_speech_started() == []
    assert ivr.on_speech("sales", 0.99, "1") == []
    assert ivr.on_digit("2") == [StopPlayback(), Finish({"skill": "support"}, "2")]
    assert ivr.history == ["said::0.00", "said:three:0.20", "2"]


def test_a_stale_timer_after_speech_started_is_ignored():
    ivr = Ivr(MENU)
    ivr.start()
    assert ivr.on_playback_finished(1) == [StartTimer(4.0, 1)]
    assert ivr.on_speech_started() == [StartTimer(4.0, 2)]
    assert ivr.on_timeout(1) == []
    assert ivr.on_timeout(2) == [Play(("sound:invalid", "sound:welcome"), 3)]


def test_misses_count_as_tries_up_to_the_default():
    ivr = Ivr(Menu("p", "i", 4.0, 2, {"1": {"skill": "sales"}}, {"skill": "x"},
                   labels={"1": "sales"}))
    ivr.start()
    ivr.on_speech("", 0.0, None)
    assert ivr.on_speech("", 0.0, None) == [StopPlayback(), StopListening(), Finish({"skill": "x"})]


def test_the_history_splits_into_utterances_and_keys():
    assert spoken(["said:an agent:0.93", "9", "said::0.00", "timeout", "2"]) == (
        [{"said": "an agent", "confidence": 0.93}, {"said": "", "confidence": 0.0}],
        ["9", "timeout", "2"])
