"""Client mail for the benchmarks: Russian text in utf-8, windows-1251 and koi8-r, threads, files.

`generate()` yields `BenchMail`s in arrival order from a seeded RNG, so two runs with the
same arguments append byte-for-byte comparable mail (Date and Message-ID aside). Plain
mails come from the integration rig's `client_mail()` (the way Thunderbird and Outlook
write them); a mail with a file gets the same mail wrapped into multipart/mixed.

Every mail comes from a registered client and so makes one ticket entry: a new task
opens a ticket (and earns one acknowledgement), a reply joins its ticket silently.
A reply quotes its parent, says "Re: " + the task's subject, and carries the parent's
client Message-ID in In-Reply-To/References. It cannot carry the Message-ID of our
acknowledgement instead, because every mail is in the mailbox before the daemon starts
and sends its first ack; threading on the client's own Message-ID is the same lookup
(the Message table holds both directions).
"""

from __future__ import annotations

import email
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.utils import make_msgid

from tests.integration.deskrig import client_mail

CHARSETS = (("utf-8", 0.55), ("windows-1251", 0.30), ("koi8-r", 0.15))

FIRST_NAMES = (
    "Иван", "Мария", "Сергей", "Анна", "Дмитрий", "Елена", "Алексей", "Ольга", "Михаил",
    "Татьяна", "Андрей", "Наталья", "Павел", "Ирина", "Николай", "Светлана", "Артём", "Юлия",
    "Владимир", "Ксения", "Григорий", "Вера", "Фёдор", "Людмила", "Борис",
)
LAST_NAMES = (
    "Петров", "Иванов", "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов",
    "Новиков", "Морозов", "Волков", "Алексеев", "Яковлев", "Зайцев", "Орлов", "Белов",
)

SUBJECTS = (
    "Забронировать столик на пятницу", "Билеты в Казань на выходные", "Запись к стоматологу",
    "Подарок для мамы на юбилей", "Доставка цветов в офис", "Найти няню на вечер",
    "Продлить страховку автомобиля", "Химчистка пальто", "Заказать такси в аэропорт",
    "Отель в Сочи на майские", "Перенести встречу с юристом", "Оплатить коммунальные услуги",
    "Визит к терапевту", "Курсы английского для сына", "Ремонт стиральной машины",
    "Поздравить партнёров с праздником", "Купить корм для собаки", "Сдать документы на визу",
    "Уборка квартиры после ремонта", "Билеты в Большой театр", "Забрать посылку с почты",
    "Записать машину на шиномонтаж", "Найти репетитора по математике", "Заказать торт на день рождения",
    "Подобрать ресторан для деловой встречи", "Трансфер из Шереметьево", "Продлить абонемент в бассейн",
    "Вызвать сантехника", "Купить подарки коллегам", "Организовать ужин на шестерых",
    "Забронировать переговорную", "Перевести документы на английский", "Записать к ветеринару",
    "Поменять билеты на другую дату", "Найти курьера для срочной доставки", "Запись в салон красоты",
)

SENTENCES = (
    "Добрый день!",
    "Здравствуйте.",
    "Пожалуйста, забронируйте столик на двоих на пятницу, к семи вечера, лучше у окна.",
    "Нужны два билета на поезд в Казань, туда в пятницу вечером, обратно в воскресенье.",
    "Запишите меня к стоматологу на следующей неделе, удобно после обеда.",
    "Бюджет примерно десять тысяч рублей, можно немного больше, если вариант хороший.",
    "Если в это время мест нет, подойдёт суббота или воскресенье.",
    "Адрес доставки прежний, офис на Тверской, третий этаж, приёмная.",
    "Позвоните мне, пожалуйста, если возникнут вопросы, я на связи до шести.",
    "Оплату можно списать с карты, которая у вас сохранена.",
    "Важно, чтобы всё было готово до четверга: в пятницу я улетаю.",
    "В прошлый раз всё прошло отлично, спасибо вам большое!",
    "Посмотрите, пожалуйста, несколько вариантов и пришлите мне на выбор.",
    "Сын занимается по вторникам и четвергам, нужно подобрать время на выходных.",
    "Машина стоит во дворе, ключи оставлю у консьержа.",
    "Паспортные данные те же, что и в прошлый раз, скан прикладываю.",
    "Мастер должен прийти с десяти до двенадцати, я буду дома.",
    "Если цена выйдет больше пятнадцати тысяч, сначала согласуйте со мной.",
    "Цветы лучше белые, без лилий: у коллеги аллергия.",
    "Нужен номер с завтраком и видом на море, на четыре ночи.",
    "Желательно недалеко от метро, чтобы гости могли добраться без машины.",
    "Дочь просила торт без орехов и с клубникой, надпись на ваше усмотрение.",
    "Пришлите, пожалуйста, подтверждение брони на почту, я перешлю мужу.",
    "На прошлой неделе договаривались о скидке, уточните, действует ли она ещё.",
    "Встречу с юристом нужно перенести на среду или четверг, в первой половине дня.",
    "Собака крупная, ест сухой корм той же марки, упаковку на пятнадцать килограммов.",
    "Документы на визу лежат в синей папке, курьер может забрать их завтра утром.",
    "Рейс прилетает в половине одиннадцатого вечера, терминал пока неизвестен.",
    "Будет шесть человек, двое не едят мясо, один гость на детском стуле.",
    "Мне удобнее всего общаться по почте, звонить лучше после шести.",
)
CLOSINGS = ("Спасибо!", "С уважением,", "Заранее благодарю.", "Хорошего дня!", "Жду ответа.")
REPLY_SENTENCES = (
    "Спасибо, вариант подходит, бронируйте.",
    "Уточнение к задаче: время можно сдвинуть на час позже.",
    "Забыл написать: нужен ещё один билет, для ребёнка.",
    "Да, согласен с ценой, оплачивайте.",
    "Пожалуйста, пришлите ещё пару вариантов, эти не подошли.",
    "Всё получил, спасибо! Можно закрывать.",
    "А можно перенести на следующую неделю?",
    "Прикладываю недостающие данные, проверьте, пожалуйста.",
)
FILE_NAMES = (
    ("Скан паспорта.pdf", "application/pdf"), ("договор_аренды.pdf", "application/pdf"),
    ("photo_2024.jpg", "image/jpeg"), ("Смета ремонта.xlsx",
                                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("билеты.pdf", "application/pdf"), ("IMG_4501.HEIC", "image/heic"),
    ("Доверенность.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
)


@dataclass(frozen=True)
class Client:
    email: str
    name: str


@dataclass
class BenchMail:
    index: int
    raw: bytes
    message_id: str  # with angle brackets, as in the header
    sender: str
    kind: str  # "new" or "reply"
    charset: str
    subject: str  # the task's subject, without "Re: "
    text: str = field(repr=False)
    parent: int | None = None
    attachment_bytes: int = 0


def client_names(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    names: list[str] = []
    pairs = [(f, lname) for f in FIRST_NAMES for lname in LAST_NAMES]
    rng.shuffle(pairs)
    for first, last in pairs[:count]:
        # A woman's surname takes -а: Петрова, not Петров.
        female = first[-1] in "аяи" and first not in ("Никита",)
        names.append(f"{first} {last}{'а' if female else ''}")
    return names


def _body(rng: random.Random) -> str:
    """Mostly short mails, some long ones (a story, a list, a pasted thread)."""
    roll = rng.random()
    count = rng.randint(2, 5) if roll < 0.55 else rng.randint(10, 40) if roll < 0.9 else rng.randint(120, 400)
    lines = [rng.choice(SENTENCES[:2])]
    paragraph: list[str] = []
    for _ in range(count):
        paragraph.append(rng.choice(SENTENCES[2:]))
        if len(paragraph) >= rng.randint(2, 5):
            lines.append(" ".join(paragraph))
            paragraph = []
    if paragraph:
        lines.append(" ".join(paragraph))
    lines.append(rng.choice(CLOSINGS))
    return "\n\n".join(lines)


def _quote(text: str, name: str) -> str:
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    return f"{name} пишет:\n{quoted}"


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    import math

    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def _with_attachment(raw: bytes, filename: str, content_type: str, payload: bytes) -> bytes:
    """The same mail as multipart/mixed: its body first, then the file (RFC 2231 name)."""
    body = email.message_from_bytes(raw)
    mixed = MIMEMultipart("mixed")
    for name, value in body.items():
        if not name.lower().startswith(("content-", "mime-version")):
            mixed[name] = value
    for name in [n for n in body.keys() if not n.lower().startswith(("content-", "mime-version"))]:
        del body[name]
    mixed.attach(body)
    maintype, subtype = content_type.split("/", 1)
    part = MIMEApplication(payload, _subtype=subtype)
    if maintype != "application":
        part.replace_header("Content-Type", content_type)
    part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
    mixed.attach(part)
    return mixed.as_bytes()


def generate(clients: list[Client], support: str, count: int, *, seed: int = 1,
             attach_share: float = 0.08, attach_min: int = 50 * 1024, attach_max: int = 2 * 1024 * 1024,
             reply_share: float = 1 / 3, html_share: float = 0.2) -> Iterator[BenchMail]:
    """`count` mails in arrival order; exactly round(count * reply_share) are replies."""
    rng = random.Random(seed)
    replies = set(rng.sample(range(1, count), min(count - 1, round(count * reply_share)))) if count > 1 else set()
    attached = set(rng.sample(range(count), round(count * attach_share)))
    charsets, weights = zip(*CHARSETS, strict=True)
    # Per mail only what a later reply needs: who wrote it, its Message-ID, subject, text.
    history: list[tuple[Client, str, str, str]] = []
    for index in range(count):
        charset = rng.choices(charsets, weights)[0]
        parent: int | None = None
        if index in replies:
            # Clients answer recent mail more often than old mail.
            parent = max(0, index - 1 - int(rng.expovariate(1 / 40)))
            client, parent_id, subject, parent_text = history[parent]
            text = rng.choice(REPLY_SENTENCES)
            if rng.random() < 0.3:
                text += "\n\n" + _body(rng)
            text += "\n\n" + _quote(parent_text[:4000], client.name)
            header_subject = f"Re: {subject}"
            in_reply_to: str | None = parent_id
            kind = "reply"
        else:
            client = rng.choice(clients)
            subject = rng.choice(SUBJECTS)
            text = _body(rng)
            header_subject = subject
            in_reply_to = None
            kind = "new"
        message_id = make_msgid(idstring=f"bench{index}", domain=client.email.split("@")[1])
        html = None
        if rng.random() < html_share:
            paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
            html = f"<html><body>{paragraphs}</body></html>"
        raw = client_mail(client.email, support, header_subject, text, charset=charset, name=client.name,
                          message_id=message_id, in_reply_to=in_reply_to, html=html)
        attachment_bytes = 0
        if index in attached:
            attachment_bytes = _log_uniform(rng, attach_min, attach_max)
            filename, content_type = rng.choice(FILE_NAMES)
            raw = _with_attachment(raw, filename, content_type, rng.randbytes(attachment_bytes))
        history.append((client, message_id, subject, text))
        yield BenchMail(index=index, raw=raw, message_id=message_id, sender=client.email, kind=kind,
                        charset=charset, subject=subject, text=text, parent=parent,
                        attachment_bytes=attachment_bytes)
