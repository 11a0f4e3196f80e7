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


def test_a_digit_leads_to_a_sub_menu_whose_choice_keeps_the_attributes_on_the_way():
    english = Menu("sound:lang", "sound:invalid", 2.0, 2,
                   {"1": {"language": "en"}, "2": {"language": "fr"}},
                   default_attributes={"language": "en"})
    menu = Menu("sound:welcome", "sound:invalid", 4.0, 3,
                {"1": {"skill": "sales"}, "2": {"skill": "support"}}, submenus={"1": english})
    ivr = Ivr(menu)
    ivr.start()
    assert ivr.on_digit("1") == [StopPlayback(), Play(("sound:lang",), 2)]
    assert ivr.on_playback_finished(2) == [StartTimer(2.0, 2)]
    assert ivr.on_digit("9") == [Play(("sound:invalid", "sound:lang"), 3)]  # the sub-menu's
    assert ivr.on_digit("2") == [StopPlayback(), Finish({"skill": "sales", "language": "fr"}, "2")]
    assert ivr.history == ["1", "9", "2"]


def test_a_sub_menu_that_runs_out_of_tries_finishes_with_its_default_and_the_way_there():
    sub = Menu("sound:lang", "sound:invalid", 2.0, 1, {"1": {"language": "en"}},
               default_attributes={"language": "en"})
    ivr = Ivr(Menu("sound:welcome", "sound:invalid", 4.0, 3, {"1": {"skill": "sales"}},
                   submenus={"1": sub}))
    ivr.start()
    ivr.on_digit("1")
    ivr.on_playback_finished(2)
    assert ivr.on_timeout(2) == [Finish({"skill": "sales", "language": "en"})]
