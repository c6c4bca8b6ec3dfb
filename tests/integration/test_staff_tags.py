"""Managers and assistants run tickets by replying with tags, through Dovecot and SMTP."""

from __future__ import annotations

import json

from store.models import Message, Ticket
from tests.integration.deskrig import client_mail, reply_to


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def test_manager_notification_carries_the_task_and_a_cheat_sheet(desk):
    client = desk.add_client(name="Иван Петров")
    ack, notice = desk.new_task(client, "Цветы маме", "Розы, 15 штук, к 18:00")
    body = text_of(notice)
    assert "[OA-1]" in notice["Subject"] and "Иван Петров" in notice["Subject"]
    assert "Розы, 15 штук" in body and "Basis" in body and "#accept" in body and "#done" in body
    # The manager's notice carries a staff reply address, not the client's.
    assert notice["Reply-To"].addresses[0].addr_spec.lower() != ack["Reply-To"].addresses[0].addr_spec.lower()
    assert desk.inbox(desk.manager2) == [] and desk.inbox(desk.assistant) == []


def test_accept_with_due_time_gmail_style(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    desk.answer(notice, desk.manager, "#accept 2026-12-30 18:00\nКупим билеты в партер.")
    accepted = desk.latest(client)
    assert "принята в работу" in accepted["Subject"]
    body = text_of(accepted)
    assert "30.12.2026 18:00" in body and "Купим билеты в партер." in body
    # In the manager's name, the client's token, the client's thread.
    assert accepted["From"].addresses[0].display_name.startswith("Анна")
    assert "> Ваша" not in body and "#accept" not in body
    ticket = Ticket.get()
    assert ticket.status == "accepted" and ticket.due_at is not None and ticket.first_response_at is not None
    transcript = desk.latest(desk.manager)
    assert "Commands applied" in transcript["Subject"] or "Команды применены" in transcript["Subject"]


def test_plain_reply_outlook_style_is_relayed_in_the_managers_name(desk):
    client = desk.add_client()
    ack, notice = desk.new_task(client)
    desk.answer(notice, desk.manager, "Добрый день! Уточню наличие и вернусь.", style="outlook")
    relayed = desk.latest(client)
    assert text_of(relayed).startswith("Добрый день! Уточню наличие и вернусь.")
    assert "Отправлено:" not in text_of(relayed)
    assert relayed["In-Reply-To"] == ack["In-Reply-To"]  # the client's own mail
    assert relayed["Reply-To"].addresses[0].addr_spec == ack["Reply-To"].addresses[0].addr_spec
    assert Ticket.get().status == "new"


def test_ask_then_client_answers(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    desk.answer(notice, desk.manager, "#ask\nНа какое время?")
    question = desk.latest(client)
    assert "Вопрос" in question["Subject"] and "На какое время?" in text_of(question)
    assert Ticket.get().status == "waiting"
    desk.deliver(client_mail(client, str(question["Reply-To"].addresses[0].addr_spec), "Re: " + question["Subject"],
                             "На 19:00", in_reply_to=question["Message-ID"]))
    desk.run_once()
    assert Ticket.get().status == "open"
    answered = desk.latest(desk.manager)
    assert "Ответ клиента" in answered["Subject"] and "На 19:00" in text_of(answered)


def test_note_never_reaches_the_client(desk):
    client = desk.add_client()
    desk.new_task(client)
    before = len(desk.inbox(client))
    notice = desk.inbox(desk.manager)[0]
    desk.answer(notice, desk.manager, "#note\nКлиент просил не звонить до 10 утра")
    assert len(desk.inbox(client)) == before
    (note,) = Message.select().where(Message.direction == "note")
    assert "не звонить" in note.text
    assert not any("не звонить" in r.raw.decode("utf-8", "replace") for r in desk.sink.received
                   if r.rcpt_tos == (client,))


def test_assign_then_assistant_finishes_with_attachments(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client, "Найти отель", "В Казани на выходные")
    desk.answer(notice, desk.manager, f"#assign {desk.assistant}\nПётр, возьми, пожалуйста")
    assigned = desk.latest(desk.assistant)
    assert "Вам назначена" in assigned["Subject"] and "В Казани" not in assigned["Subject"]
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    desk.deliver(reply_to(assigned, desk.assistant, "#done\nБронь подтверждена, подтверждение во вложении.",
                          name="Пётр", attachments=(("Бронь отеля.pdf", "application/pdf", pdf),)))
    desk.run_once()
    done = desk.latest(client)
    assert "выполнена" in done["Subject"]
    # The client hears only from the manager, never the assistant.
    assert done["From"].addresses[0].display_name.startswith("Анна")
    assert "Пётр" not in str(done["From"]) and desk.assistant not in done.as_string()
    (att,) = list(done.iter_attachments())
    assert att.get_filename() == "Бронь отеля.pdf" and att.get_content() == pdf
    assert Ticket.get().status == "done"


def test_due_and_delay_tell_the_client(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    desk.answer(notice, desk.manager, "#accept 2026-12-20 12:00")
    desk.answer(notice, desk.manager, "#delay 2026-12-22 15:00 кассы закрыты на ремонт")
    delay = desk.latest(client)
    assert "22.12.2026 15:00" in delay["Subject"]
    assert "кассы закрыты на ремонт" in text_of(delay)
    desk.answer(notice, desk.manager, "#due 2026-12-21 10:00")
    assert "21.12.2026 10:00" in desk.latest(client)["Subject"]


def test_cancel_and_reject_close_and_tell_the_client(desk):
    client = desk.add_client()
    _, n1 = desk.new_task(client, "Задача один", "Текст")
    _, n2 = desk.new_task(client, "Задача два", "Текст")
    desk.deliver(reply_to(n1, desk.manager, "#cancel клиент передумал"))
    desk.answer(n2, desk.manager, "#reject это незаконно")
    statuses = {t.key: t.status for t in Ticket.select()}
    assert statuses == {"OA-1": "cancelled", "OA-2": "rejected"}
    subjects = [m["Subject"] for m in desk.inbox(client)]
    assert any("отменена" in s for s in subjects) and any("не можем" in s for s in subjects)


def test_merge_same_client_and_refuse_across_clients(desk):
    a = desk.add_client("a")
    b = desk.add_client("b")
    _, n1 = desk.new_task(a, "Билеты", "Текст")
    _, n2 = desk.new_task(a, "Ещё про билеты", "Текст")
    _, n3 = desk.new_task(b, "Чужая задача", "Текст")
    desk.answer(n2, desk.manager, "#merge OA-1")
    assert Ticket.get(Ticket.key == "OA-2").status == "merged"
    desk.answer(n3, desk.manager, "#merge OA-1")
    assert Ticket.get(Ticket.key == "OA-3").status == "new"
    refusal = desk.latest(desk.manager)
    assert "not applied" in refusal["Subject"] or "не применены" in refusal["Subject"]
    assert "это задача другого клиента" in text_of(refusal)


def test_split_makes_a_new_ticket_of_the_same_client(desk):
    client = desk.add_client()
    ack, notice = desk.new_task(client, "Билеты", "Два билета")
    desk.deliver(client_mail(client, str(ack["Reply-To"].addresses[0].addr_spec), "Re: " + ack["Subject"],
                             "И ещё: закажите такси на субботу", in_reply_to=ack["Message-ID"]))
    desk.run_once()
    reply_notice = desk.latest(desk.manager)
    desk.answer(reply_notice, desk.manager, "#split Такси на субботу")
    new = Ticket.get(Ticket.key == "OA-2")
    assert new.subject == "Такси на субботу" and new.client.email == client
    (moved,) = [m for m in new.messages if m.direction == "in"]
    assert "такси" in moved.text
    assert any(m["Subject"].startswith("[OA-2]") for m in desk.inbox(client))


def test_unknown_tag_bad_when_and_bad_amount_change_nothing(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    sent_before = len(desk.inbox(client))
    for body in ("#acept\nтекст", "#accept 31.02 10:00", "#expense -5 такси"):
        desk.answer(notice, desk.manager, body)
        refusal = desk.latest(desk.manager)
        assert "не применены" in refusal["Subject"], body
        assert "#accept" in text_of(refusal) and "#merge" in text_of(refusal)
    assert len(desk.inbox(client)) == sent_before
    assert Ticket.get().status == "new"


def test_tags_in_the_quoted_part_are_ignored(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client, "Задача", "#done сделайте быстро")
    # The notification quoted below contains "#done" from the client's text; only new text counts.
    desk.answer(notice, desk.manager, "Сейчас посмотрю")
    assert Ticket.get().status == "new"
    assert text_of(desk.latest(client)).startswith("Сейчас посмотрю")


def test_subject_tag_and_html_only_reply(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    desk.deliver(reply_to(notice, desk.manager, "Всё готово, билеты в приложении к письму.", html=True,
                          subject="Re: [#done] " + str(notice["Subject"])))
    desk.run_once()
    assert Ticket.get().status == "done"
    assert "Всё готово" in text_of(desk.latest(client))


def test_spoofed_staff_mail_changes_nothing_and_admins_are_told(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    sent_before = len(desk.inbox(client))
    # (a) From the manager, but to the plain support address: no staff token, no DKIM.
    desk.deliver(reply_to(notice, desk.manager, "#done", to=desk.support))
    # (b) A forged pass below our MX's real (failing) Authentication-Results.
    forged = reply_to(notice, desk.manager, "#cancel", to=desk.support)
    forged = (b"Authentication-Results: mx.desk.test; dkim=fail header.d=example.test\r\n"
              b"Authentication-Results: mx.desk.test; dkim=pass header.d=example.test; dmarc=pass "
              b"header.from=example.test\r\n" + forged)
    desk.deliver(forged)
    # (c) A client who knows their own ticket's reply address still cannot act as staff.
    desk.deliver(reply_to(notice, desk.manager, "#done", to=str(desk.inbox(client)[0]["Reply-To"].addresses[0]
                                                                 .addr_spec)))
    desk.run_once()
    assert Ticket.get().status == "new"
    assert len(desk.inbox(client)) == sent_before
    alerts = desk.inbox(desk.admin)
    assert len(alerts) == 3 and all("Unverified" in a["Subject"] for a in alerts)


def test_dkim_pass_from_our_mx_is_trusted(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    domain = desk.manager.split("@")[1]
    # Sent to the plain support address (no token): our MX's DKIM pass is what vouches for it.
    signed = (f"Authentication-Results: mx.desk.test; dkim=pass header.d={domain}; "
              f"dmarc=pass header.from={domain}\r\n").encode() + reply_to(notice, desk.manager, "#done",
                                                                        to=desk.support)
    desk.deliver(signed)
    desk.run_once()
    assert Ticket.get().status == "done"


def test_roles_and_ownership(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    # An assistant not assigned to the ticket may not touch it.
    desk.answer(notice, desk.assistant, "#reply\nЗдравствуйте", name="Пётр")
    assert "вы не менеджер" in text_of(desk.latest(desk.assistant))
    # Assigned, the assistant may work it but not cancel it.
    desk.answer(notice, desk.manager, f"#assign {desk.assistant}")
    assigned = desk.latest(desk.assistant)
    desk.answer(assigned, desk.assistant, "#cancel", name="Пётр")
    assert "не разрешён для роли ассистента" in text_of(desk.latest(desk.assistant))
    # Another client's manager may not drive this ticket.
    desk.answer(notice, desk.manager2, "#done", name="Борис")
    assert "вы не менеджер" in text_of(desk.latest(desk.manager2))
    # Admins may.
    desk.answer(notice, desk.admin, "#accept +2d", name="Ops")
    assert Ticket.get().status == "accepted"


def test_closed_ticket_takes_only_notes(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    desk.answer(notice, desk.manager, "#done\nГотово")
    desk.answer(notice, desk.manager, "#reply\nЕщё одно")
    assert "OA-1 закрыта (выполнена); возможно только #note" in text_of(desk.latest(desk.manager))
    desk.answer(notice, desk.manager, "#note\nзакрыто по просьбе клиента")
    assert Message.select().where(Message.direction == "note").count() == 1


def test_dedicated_client_goes_to_the_assistant_only(desk):
    client = desk.add_client(tariff="one", assistant=desk.assistant)
    desk.deliver(client_mail(client, desk.support, "Личное поручение", "Забрать костюм из химчистки"))
    desk.run_once()
    assert len(desk.inbox(desk.assistant)) == 1 and desk.inbox(desk.manager) == []
    assert Ticket.get().assignee_email == desk.assistant
    assert desk.latest(client)["From"].addresses[0].display_name.startswith("Анна")


def test_phone_task_behaves_like_a_mailed_one(desk, tmp_path):
    client = desk.add_client()
    body = tmp_path / "task.txt"
    body.write_text("Клиент позвонил: купить подарок коллеге", encoding="utf-8")
    photo = tmp_path / "пример.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"\x00" * 500)
    made = desk.run_process("--json", "ticket", "new", "--client", client, "--subject", "Подарок коллеге",
                            "--body-file", str(body), "--attach", str(photo))
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["ticket"] == "OA-1"
    desk.run_process("run", "--once")
    assert "[OA-1] Подарок коллеге" == desk.latest(client)["Subject"]
    notice = desk.latest(desk.manager)
    assert "купить подарок" in text_of(notice)
    shown = desk.run_process("ticket", "show", "OA-1").stdout.decode()
    assert "пример.jpg" in shown and "staff.notice.ticket" in shown


def test_dkim_verified_by_the_daemon_itself(desk, tmp_path):
    """docs/reliability.md case 20 through the daemon: our own dkimpy check, keys from a file instead of DNS."""
    import base64
    import subprocess

    import dkim

    private = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                             check=True, capture_output=True).stdout
    public = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=private, check=True,
                            capture_output=True).stdout
    domain = desk.manager.split("@")[1]
    keys = tmp_path / "dkim.json"
    keys.write_text(json.dumps({f"s1._domainkey.{domain}.": "v=DKIM1; k=rsa; p="
                                + base64.b64encode(public).decode()}))
    desk.config_path.write_text(desk.config_path.read_text().replace(
        "[staff_mail]", f'[staff_mail]\nverify_dkim = true\ndkim_keys_file = "{keys}"'))
    from daemon.config import load

    desk.settings = load(desk.config_path)
    client = desk.add_client()
    _, notice = desk.new_task(client)

    def signed(body: str, length: bool = False) -> bytes:
        raw = reply_to(notice, desk.manager, body, to=desk.support).replace(b"\n", b"\r\n")
        # From, Subject and the MIME headers over-signed and the threading headers signed, as
        # the daemon requires.
        headers = [b"from", b"from", b"to", b"subject", b"subject", b"in-reply-to", b"references",
                   b"mime-version", b"mime-version", b"content-type", b"content-type",
                   b"content-transfer-encoding", b"content-transfer-encoding"]
        signature = dkim.sign(raw, b"s1", domain.encode(), private, include_headers=headers, length=length)
        return signature + raw

    # A body-length limited signature with a command appended after the signed part: refused.
    tampered = signed("Спасибо, посмотрю.", length=True) + b"\r\n#cancel\r\n"
    desk.deliver(tampered)
    desk.run_once()
    assert Ticket.get().status == "new"
    assert any("Unverified" in m["Subject"] for m in desk.inbox(desk.admin))
    # A proper aligned signature, sent to the plain support address (no token): applied.
    desk.deliver(signed("#accept +1d\nБерём в работу."))
    desk.run_once()
    assert Ticket.get().status == "accepted"
