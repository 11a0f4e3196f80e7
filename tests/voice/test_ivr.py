from ccari.voice.ivr import CALLBACK, Finish, Ivr, Menu, Play, StartTimer, StopPlayback

MENU = Menu(
    prompt="sound:welcome",
    invalid_prompt="sound:invalid",
    timeout_s=4.0,
    max_tries=3,
    options={"1": {"skill": "sales"}, "2": {"skill": "support"}},
    default_attributes={"skill": "support"},
)


def test_prompt_then_timer_then_valid_digit():
    ivr = Ivr(MENU)
    assert ivr.start() == [Play(("sound:welcome",), 1)]
    assert ivr.on_playback_finished(1) == [StartTimer(4.0, 1)]
    assert ivr.on_digit("2") == [Finish({"skill": "support"}, "2")]
    assert ivr.on_digit("1") == []  # done: later digits ignored


def test_barge_in_stops_the_prompt():
    ivr = Ivr(MENU)
    ivr.start()
    assert ivr.on_digit("1") == [StopPlayback(), Finish({"skill": "sales"}, "1")]


def test_invalid_digit_reprompts_until_max_tries_then_default():
    ivr = Ivr(MENU)
    ivr.start()
    ivr.on_playback_finished(1)
    assert ivr.on_digit("9") == [Play(("sound:invalid", "sound:welcome"), 2)]
    assert ivr.on_playback_finished(2) == [StartTimer(4.0, 2)]
    assert ivr.on_timeout(2) == [Play(("sound:invalid", "sound:welcome"), 3)]
    ivr.on_playback_finished(3)
    assert ivr.on_digit("*") == [Finish({"skill": "support"})]
    assert ivr.history == ["9", "timeout", "*"]


def test_stale_timer_and_playback_events_are_ignored():
    ivr = Ivr(MENU)
    ivr.start()
    ivr.on_playback_finished(1)
    ivr.on_digit("7")  # re-prompt, generation 2
    assert ivr.on_timeout(1) == []
    assert ivr.on_playback_finished(1) == []
    assert ivr.on_timeout(2) == []  # still playing generation 2


def test_no_default_means_hang_up():
    menu = Menu("p", "i", 1.0, 1, {"1": {"skill": "sales"}}, None)
    ivr = Ivr(menu)
    ivr.start()
    ivr.on_playback_finished(1)
    assert ivr.on_timeout(1) == [Finish(None)]


def test_a_digit_with_an_action_finishes_with_it():
    menu = Menu("p", "i", 1.0, 1, {"1": {"skill": "sales"}, "3": {"skill": "support"}},
                actions={"3": CALLBACK})
    ivr = Ivr(menu)
    ivr.start()
    assert ivr.on_digit("3") == [StopPlayback(), Finish({"skill": "support"}, "3", CALLBACK)]
    ivr = Ivr(menu)
    ivr.start()
    assert ivr.on_digit("1") == [StopPlayback(), Finish({"skill": "sales"}, "1", None)]
