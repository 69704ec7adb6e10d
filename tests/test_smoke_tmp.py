def test_add(chat):
    r = chat.say("root", "/task add Write @ana due:tomorrow")
    assert "T-1" in r.text()
    assert chat.task(1).title == "Write"
    assert chat.roles(1)["R"] == ["ana"]
