"""The statement as data (domain/statement.py): its lines, subtotals and totals, what was
paid and what is owed, and the canonical JSON snapshot an issued invoice keeps."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from trello_sync.domain.documents import (
    DocumentIdentity,
    DocumentKind,
    Payment,
    StatementLine,
    Subtotal,
)
from trello_sync.domain.money import Money
from trello_sync.domain.records import CardRecord, Entry, StageMove
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import Stage
from trello_sync.domain.statement import (
    build_statement,
    lines_from_json,
    lines_to_json,
    main_currency,
    statement_from_lines,
)

RATES = {1: 3000, 2: 3500}
SHARES = {Status.DONE: 100, Status.NOSHOW: 50, Status.LATE: 50, Status.CANCEL: 0}
MENTOR = "camille"
MONTH = "2026-03"
TODAY = date(2026, 4, 2)
DRAFT = DocumentIdentity(kind=DocumentKind.DRAFT)


def entry(
    entry_id: str,
    day: date,
    status: Status = Status.DONE,
    *,
    level: int = 1,
    card: str = "c1",
    student: str = "Léa",
    currency: str = "EUR",
    mentor: str = MENTOR,
    hour: int = 18,
) -> Entry:
    rate, share = RATES[level], SHARES[status]
    return Entry(
        entry_id=entry_id,
        recorded_at=datetime.combine(day, datetime.min.time(), UTC).replace(hour=hour),
        board_id="b1",
        card_id=card,
        student=student,
        project="Learn how to learn",
        level=level,
        status=status,
        session_date=day,
        duration_minutes=None,
        note="",
        rate_cents=rate,
        share_percent=share,
        amount_cents=rate * share // 100,
        currency=currency,
        mentor=mentor,
        source_action_id=f"act-{entry_id}",
    )


def reversal(of: Entry, *, later_by: timedelta = timedelta(days=1)) -> Entry:
    return replace(
        of,
        entry_id=f"{of.entry_id}~rev",
        recorded_at=of.recorded_at + later_by,
        amount_cents=-of.amount_cents,
        reverses_entry_id=of.entry_id,
    )


def payment(pid: str, cents: int, *, currency: str = "EUR", reverses: str | None = None) -> Payment:
    return Payment(
        payment_id=pid,
        mentor=MENTOR,
        month=MONTH,
        received_on=date(2026, 4, 10),
        amount_cents=cents,
        currency=currency,
        method="transfer",
        ref=f"ref-{pid}",
        recorded_at=datetime(2026, 4, 10, 9, tzinfo=UTC),
        reverses_payment_id=reverses,
    )


CARDS = (
    CardRecord("b1", "c1", "Léa", "Learn how to learn", 1, "a0"),
    CardRecord("b1", "c2", "Noé", "Build a site", 2, "a1"),
)
MOVES = (
    StageMove("b1", "c1", "m1", datetime(2026, 2, 1, 9, tzinfo=UTC), Stage.ACTIVE, "l1", "Active"),
    StageMove("b1", "c2", "m2", datetime(2026, 3, 9, 9, tzinfo=UTC), Stage.ACTIVE, "l1", "Active"),
)

DONE_1 = entry("e1", date(2026, 3, 2))
DONE_2 = entry("e2", date(2026, 3, 9), level=2, card="c2", student="Noé")
NOSHOW = entry("e3", date(2026, 3, 9), Status.NOSHOW, hour=9)  # same day, recorded earlier
LATE = entry("e4", date(2026, 3, 16), Status.LATE, level=2, card="c2", student="Noé")
CANCEL = entry("e5", date(2026, 3, 23), Status.CANCEL)
DONE_3 = entry("e6", date(2026, 3, 30), level=2, card="c2", student="Noé")
UNDONE = reversal(DONE_3)
MONTH_ENTRIES = (DONE_1, DONE_2, NOSHOW, LATE, CANCEL, DONE_3, UNDONE)
OTHERS = (
    entry("x1", date(2026, 2, 27)),  # another month
    entry("x2", date(2026, 3, 5), mentor="sam"),  # another mentor
)


def statement(entries=MONTH_ENTRIES + OTHERS, **overrides):
    arguments = {
        "mentor": MENTOR,
        "month": MONTH,
        "language": "fr",
        "entries": entries,
        "moves": MOVES,
        "cards": CARDS,
        "cap": 20,
        "today": TODAY,
        "identity": DRAFT,
        "mentions": None,
    }
    return build_statement(**{**arguments, **overrides})


def test_lines_are_the_mentors_month_by_session_date_then_recorded_order():
    shuffled = tuple(reversed(MONTH_ENTRIES)) + OTHERS
    lines = statement(shuffled).lines
    assert [line.entry_id for line in lines] == ["e1", "e3", "e2", "e4", "e5", "e6", "e6~rev"]
    assert lines[-1] == StatementLine(
        entry_id="e6~rev",
        session_date=date(2026, 3, 30),
        student="Noé",
        project="Learn how to learn",
        level=2,
        status=Status.DONE,
        share_percent=100,
        amount=Money(-3500),
        reverses_entry_id="e6",
    )
    assert lines[-1].is_reversal


def test_subtotals_by_level_and_status_are_net_of_the_reversal():
    result = statement()
    assert result.by_level == {
        1: Subtotal(3, Money(3000 + 1500 + 0)),  # done, no-show, cancel
        2: Subtotal(2, Money(3500 + 1750 + 3500 - 3500)),  # done, late, a done undone
    }
    assert list(result.by_level) == [1, 2]
    assert result.by_status == {
        Status.DONE: Subtotal(2, Money(6500)),
        Status.NOSHOW: Subtotal(1, Money(1500)),
        Status.LATE: Subtotal(1, Money(1750)),
        Status.CANCEL: Subtotal(1, Money(0)),
    }
    assert list(result.by_status) == list(Status)
    assert result.totals == (Money(9750),)
    assert result.charts.sessions_by_status == {
        Status.DONE: 2,
        Status.NOSHOW: 1,
        Status.LATE: 1,
        Status.CANCEL: 1,
    }


def test_a_status_absent_from_the_month_has_no_subtotal():
    result = statement((DONE_1, DONE_3, UNDONE))
    assert result.by_status == {Status.DONE: Subtotal(1, Money(3000))}
    assert result.by_level == {1: Subtotal(1, Money(3000)), 2: Subtotal(0, Money(0))}


def test_two_currencies_totals_apart_subtotals_in_the_main_one():
    chf = [
        entry("c1", date(2026, 3, 3), level=2, currency="CHF"),
        entry("c2", date(2026, 3, 4), level=1, currency="CHF"),
    ]
    result = statement((DONE_1, DONE_2, NOSHOW, *chf))
    assert result.totals == (Money(6500, "CHF"), Money(8000, "EUR"))
    # Counts are of every line; amounts of the EUR lines only.
    assert result.by_level == {1: Subtotal(3, Money(4500)), 2: Subtotal(2, Money(3500))}
    assert result.charts.earnings_currency == "EUR"
    assert main_currency(result.lines) == "EUR"
    tied = statement((DONE_1, *chf[:1]))
    assert main_currency(tied.lines) == "CHF"  # a tie: the first in alphabetical order


def test_paid_and_outstanding_per_currency_with_a_reversed_payment():
    payments = [
        payment("p1", 5000),
        payment("p2", 2000),
        payment("p2~rev", -2000, reverses="p2"),
        payment("p3", 1000, currency="CHF"),
        replace(payment("p4", 9999), month="2026-02"),  # pays another month
        replace(payment("p5", 9999), mentor="sam"),
    ]
    result = statement(payments=payments)
    assert result.paid == (Money(1000, "CHF"), Money(5000))
    assert result.outstanding == (Money(-1000, "CHF"), Money(4750))


def test_without_payments_all_is_outstanding():
    result = statement()
    assert result.paid == ()
    assert result.outstanding == result.totals


def test_an_empty_month_has_no_lines_and_the_latest_currency():
    result = statement((entry("old", date(2025, 12, 1), currency="CHF"),))
    assert result.lines == ()
    assert result.totals == ()
    assert result.by_level == {}
    assert result.by_status == {}
    assert result.charts.earnings_currency == "CHF"
    assert statement(()).charts.earnings_currency == "EUR"


def test_the_active_chart_counts_the_cards_given():
    both = statement().charts.active_per_day
    assert both[0].count == 1 and both[-1].count == 2
    only_lea = statement(cards=CARDS[:1]).charts.active_per_day
    assert {day.count for day in only_lea} == {1}


# --- the snapshot -------------------------------------------------------------------------


def test_snapshot_round_trip_is_exact_and_canonical():
    lines = statement().lines
    text = lines_to_json(lines)
    assert lines_from_json(text) == lines
    assert lines_to_json(lines_from_json(text)) == text
    assert text.isascii()  # "Léa" is escaped: any storage keeps the bytes
    assert ", " not in text and ": " not in text
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def test_snapshot_of_one_line_is_exactly_this_text():
    line = statement((UNDONE,)).lines[0]
    assert lines_to_json([line]) == (
        '{"format":1,"lines":[{"amount":{"cents":-3500,"currency":"EUR"},'
        '"entry_id":"e6~rev","level":2,"project":"Learn how to learn",'
        '"reverses_entry_id":"e6","session_date":"2026-03-30","share_percent":100,'
        '"status":"done","student":"No\\u00e9"}]}'
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda line: line.pop("status"),
        lambda line: line.update(level=2.0),
        lambda line: line.update(level=True),
        lambda line: line.update(status="maybe"),
        lambda line: line.update(session_date="30/03/2026"),
        lambda line: line["amount"].update(cents="35.00"),
        lambda line: line.update(extra=1),
    ],
)
def test_a_damaged_snapshot_is_refused(damage):
    payload = json.loads(lines_to_json(statement((DONE_1,)).lines))
    damage(payload["lines"][0])
    with pytest.raises(ValueError, match="statement snapshot"):
        lines_from_json(json.dumps(payload))


def test_an_unknown_snapshot_format_is_refused():
    with pytest.raises(ValueError, match="format"):
        lines_from_json('{"format":2,"lines":[]}')


def test_statement_from_its_own_lines_is_the_same_statement():
    payments = [payment("p1", 5000)]
    built = statement(payments=payments)
    again = statement_from_lines(
        mentor=MENTOR,
        month=MONTH,
        language="fr",
        lines=lines_from_json(lines_to_json(built.lines)),
        entries=MONTH_ENTRIES + OTHERS,
        moves=MOVES,
        cards=CARDS,
        cap=20,
        today=TODAY,
        identity=DRAFT,
        mentions=None,
        payments=payments,
    )
    assert again == built


def test_frozen_lines_stay_frozen_when_the_ledger_moves_on():
    issued = statement().lines
    late = entry("late", date(2026, 3, 31))
    again = statement_from_lines(
        mentor=MENTOR,
        month=MONTH,
        language="fr",
        lines=issued,
        entries=(*MONTH_ENTRIES, late),
        moves=MOVES,
        cards=CARDS,
        cap=20,
        today=TODAY,
        identity=DRAFT,
        mentions=None,
    )
    assert again.lines == issued
    assert again.totals == (Money(9750),)


def test_lines_of_another_month_are_refused():
    with pytest.raises(ValueError, match="not of 2026-04"):
        statement_from_lines(
            mentor=MENTOR,
            month="2026-04",
            language="fr",
            lines=statement().lines,
            entries=(),
            moves=(),
            cards=(),
            cap=20,
            today=TODAY,
            identity=DRAFT,
            mentions=None,
        )


def test_an_invoices_mentions_are_frozen_with_its_lines():
    from datetime import date

    from trello_sync.domain.documents import InvoiceMentions, Party, StatementLine
    from trello_sync.domain.money import Money
    from trello_sync.domain.rules import Status
    from trello_sync.domain.statement import lines_from_json, lines_to_json, mentions_from_json

    line = StatementLine(
        "e1", date(2026, 3, 2), "Léa « L »", None, 2, Status.DONE, 100, Money(3500, "EUR")
    )
    frozen = InvoiceMentions(
        seller=Party("Camille", "1 rue A\n69003 Lyon"),
        siret="73282932000074",
        client=Party("Plateforme", "Paris"),
        vat_mention="TVA non applicable, art. 293 B du CGI",
        late_penalty="BCE + 10 points",
        recovery_indemnity=Money(4000, "EUR"),
        payment_terms_days=30,
        iban="FR7630006000011234567890189",
    )
    body = lines_to_json([line], frozen)
    assert lines_from_json(body) == (line,)
    assert mentions_from_json(body) == frozen
    assert mentions_from_json(lines_to_json([line])) is None
    assert lines_to_json([line], frozen) == body  # canonical
