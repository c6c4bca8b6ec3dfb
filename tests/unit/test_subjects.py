from parsers.subjects import (
    has_reply_prefix,
    normalize_subject,
    tagged_subject,
    ticket_keys_in_subject,
)


def test_reply_prefixes_of_many_mail_programs():
    for subject in ("Re: Билеты", "RE: Билеты", "Ответ: Билеты", "AW: Билеты", "Re[2]: Билеты",
                    "Отв: Билеты", "SV: Билеты", "re : Билеты"):
        assert has_reply_prefix(subject), subject
        assert normalize_subject(subject, "OA") == "билеты"
    assert not has_reply_prefix("Билеты на Re: концерт")
    assert not has_reply_prefix("Regarding tickets")


def test_normalize_strips_tags_and_stacked_prefixes():
    assert normalize_subject("Re: [OA-12] Fwd: Re:  Билеты   в театр", "OA") == "билеты в театр"
    assert normalize_subject("[oa-7] Re: Tickets", "OA") == "tickets"


def test_ticket_keys_found_in_order_and_uppercased():
    assert ticket_keys_in_subject("Re: [oa-12] and [OA-3]", "OA") == ("OA-12", "OA-3")
    assert ticket_keys_in_subject("OA-12 without brackets", "OA") == ()
    assert ticket_keys_in_subject("[XY-12]", "OA") == ()


def test_tagged_subject_does_not_stack():
    assert tagged_subject("OA-5", "Re: [OA-5] Билеты", "OA") == "[OA-5] Билеты"
    assert tagged_subject("OA-5", "", "OA") == "[OA-5]"
