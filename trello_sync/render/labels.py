"""Every text a person reads on a rendered document, in French and in English.

One flat dict per language (same keys in both; a test checks it). Keys holding `{name}`
are formats filled by `Labels.fmt`. French typography: a no-break space before `:` and
`€`, a narrow no-break space as the thousands separator and before `%`, so a line never
breaks inside an amount or before its colon.

Formats chosen once and kept everywhere:
  amounts  fr `1 234,50 €` (a code for other currencies: `1 234,50 USD`)
           en `1,234.50 EUR` (always the code)
  dates    fr `15 mars 2026` (`1er mars 2026`), en `15 March 2026`
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from trello_sync.domain.documents import DocumentKind
from trello_sync.domain.money import Money
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import Stage

NBSP = "\u00a0"  # no-break space: before `:` and the currency in French
NNBSP = "\u202f"  # narrow no-break space: French thousands separator, before `%`

_C = NBSP + ":"  # the French colon, glued to the word before it

FR: dict[str, str] = {
    # documents
    "kind.statement": "Relevé",
    "kind.draft": "Projet de facture",
    "kind.invoice": "Facture",
    "kind.credit_note": "Avoir",
    "kind.supplementary_invoice": "Facture complémentaire",
    "number": "N°",
    "number_label": "Numéro",
    "issued_on": "Date d'émission",
    "due_on": "Date d'échéance",
    "period": "Période",
    "mentor": "Mentor",
    "seller": "Prestataire",
    "client": "Client",
    "siret": "N° SIRET",
    "siren": "N° SIREN",
    "ei_suffix": " EI",
    "draft_note": "Projet : le mois n'est pas terminé, ce document n'est pas une facture.",
    "refers_to.credit_note": "Avoir relatif à la facture n° {number}",
    "refers_to.supplementary_invoice": "Facture complémentaire à la facture n° {number}",
    "documents": "Relevés",
    # the lines and their columns
    "lines": "Détail des séances",
    "no_lines": "Aucune séance ce mois-ci.",
    "col.date": "Date",
    "col.student": "Élève",
    "col.project": "Projet",
    "col.level": "Niveau",
    "col.status": "Statut",
    "col.share": "Part",
    "col.amount": "Montant",
    "col.count": "Séances",
    "col.stage": "Étape",
    "col.sessions": "Séances réalisées",
    "col.reason": "Raison",
    "col.month": "Mois",
    "col.handed_off": "Transmis",
    "no_project": "(aucun)",
    "reversal.of": "Annulation de la ligne du {date} ({status})",
    "reversal.unknown": "Annulation d'une écriture antérieure",
    # subtotals and totals
    "by_level": "Sous-totaux par niveau",
    "by_status": "Sous-totaux par statut",
    "totals": "Total",
    "total": "Total",
    "paid": "Déjà réglé",
    "outstanding": "Reste à payer",
    # legal mentions
    "mentions": "Conditions et mentions",
    "payment_terms": "Paiement à {days} jours à compter de la date d'émission.",
    "payment_terms_due": (
        "Paiement à {days} jours à compter de la date d'émission, soit au plus tard le {due}."
    ),
    "due_line": "Date d'échéance" + _C + " {due}",
    "late_penalty": "Pénalités de retard" + _C + " {text}",
    "recovery": "Indemnité forfaitaire pour frais de recouvrement" + _C + " {amount}",
    "iban": "IBAN" + _C + " {iban}",
    "bic": "BIC" + _C + " {bic}",
    "purchase_order": "Bon de commande n° {number}",
    # statuses and stages
    "status.done": "Séance réalisée",
    "status.noshow": "Absence",
    "status.late": "Annulation tardive",
    "status.cancel": "Annulation",
    "stage.waiting": "En attente",
    "stage.active": "En cours",
    "stage.paused": "En pause",
    "stage.handed_off": "Transmis",
    "stage.unmapped": "Hors étapes",
    "stage.archived": "Archivé",
    "stage.moved_away": "Déplacé",
    "stage.deleted": "Supprimé",
    "level": "Niveau {level}",
    # charts
    "charts": "Graphiques",
    "chart.earnings": "Gains sur 12 mois, par niveau",
    "chart.status": "Séances du mois par statut",
    "chart.active": "Élèves actifs par jour et plafond recommandé",
    "chart.cfd": "Flux cumulé des 90 derniers jours, par étape",
    "chart.no_data": "Aucune donnée",
    "title.month": "{month}" + _C + " {amount}",
    "title.segment": "{month}, niveau {level}" + _C + " {amount}",
    "title.status": "{status}" + _C + " {count}",
    "title.day": "{day} — élèves actifs" + _C + " {count}",
    "title.cap": "Plafond recommandé" + _C + " {cap} élèves actifs",
    "title.stage": "{stage}" + _C + " {last} le {day} (de {low} à {high} sur la période)",
    "legend.active": "Élèves actifs",
    "legend.over_cap": "Au-dessus du plafond",
    "legend.cap": "Plafond recommandé ({cap})",
    "cap_label": "plafond {cap}",
    # dashboard
    "dashboard": "Tableau de bord",
    "as_of": "au {date}",
    "kpi.active": "Élèves actifs",
    "kpi.of_cap": "plafond recommandé : {cap}",
    "kpi.over_cap": "dépassé",
    "kpi.earnings": "Gains du mois",
    "kpi.sessions": "Séances réalisées",
    "kpi.look": "À regarder",
    "students": "Élèves du mois",
    "no_students": "Aucun élève ce mois-ci.",
    "needs_a_look": "Élèves à regarder",
    "nothing_to_look": "Rien à signaler.",
    "time_in_stage": "Temps passé par étape (jours)",
    "flow": "Indicateurs de flux",
    "flow.wip": "Travail en cours",
    "flow.wip.def": "Nombre d'élèves dans l'étape « en cours » aujourd'hui.",
    "flow.cycle": "Durée de cycle",
    "flow.cycle.def": (
        "Pour chaque élève transmis ces 12 derniers mois : nombre de jours entre son premier "
        "passage en cours et sa transmission. On donne la médiane et l'étendue (du plus court "
        "au plus long)."
    ),
    "flow.age": "Âge des accompagnements en cours",
    "flow.age.def": (
        "Pour chaque élève en cours aujourd'hui : nombre de jours depuis son premier passage "
        "en cours. On donne la médiane et l'étendue."
    ),
    "flow.throughput": "Débit",
    "flow.throughput.def": "Nombre d'élèves transmis par mois, sur les 12 derniers mois.",
    "flow.policy": (
        "Le temps passé en pause compte dans l'âge d'un accompagnement et dans sa durée de "
        "cycle : l'horloge tourne du premier passage en cours jusqu'à la transmission (ou "
        "jusqu'à aujourd'hui)."
    ),
    "flow.median": "{median} (médiane)",
    "flow.range": "de {low} à {high}, sur {count}",
    "flow.none": "aucun élève",
    "students.one": "{count} élève",
    "students.other": "{count} élèves",
    "days": "{count}" + NBSP + "j",
    # flags written by domain/report.py, in English there
    "flag.no project": "sans projet",
    "flag.card deleted": "carte supprimée",
    "flag.on a list that maps to no stage": "sur une liste qui ne correspond à aucune étape",
    "flag.paused too long": "en pause depuis trop longtemps",
    "flag.no session lately": "pas de séance depuis longtemps",
    # months
    "month.1": "janvier",
    "month.2": "février",
    "month.3": "mars",
    "month.4": "avril",
    "month.5": "mai",
    "month.6": "juin",
    "month.7": "juillet",
    "month.8": "août",
    "month.9": "septembre",
    "month.10": "octobre",
    "month.11": "novembre",
    "month.12": "décembre",
    "month_short.1": "janv.",
    "month_short.2": "févr.",
    "month_short.3": "mars",
    "month_short.4": "avr.",
    "month_short.5": "mai",
    "month_short.6": "juin",
    "month_short.7": "juil.",
    "month_short.8": "août",
    "month_short.9": "sept.",
    "month_short.10": "oct.",
    "month_short.11": "nov.",
    "month_short.12": "déc.",
}
# French colons in the longer sentences above are typed as " :"; glue them here once.
FR = {key: text.replace(" :", _C) for key, text in FR.items()}

EN: dict[str, str] = {
    "kind.statement": "Statement",
    "kind.draft": "Draft invoice",
    "kind.invoice": "Invoice",
    "kind.credit_note": "Credit note",
    "kind.supplementary_invoice": "Supplementary invoice",
    "number": "No.",
    "number_label": "Number",
    "issued_on": "Issue date",
    "due_on": "Due date",
    "period": "Period",
    "mentor": "Mentor",
    "seller": "Supplier",
    "client": "Client",
    "siret": "SIRET no.",
    "siren": "SIREN no.",
    "ei_suffix": " EI",
    "draft_note": "Draft: the month is not over; this document is not an invoice.",
    "refers_to.credit_note": "Credit note for invoice no. {number}",
    "refers_to.supplementary_invoice": "Supplementary to invoice no. {number}",
    "documents": "Statements",
    "lines": "Sessions",
    "no_lines": "No session this month.",
    "col.date": "Date",
    "col.student": "Student",
    "col.project": "Project",
    "col.level": "Level",
    "col.status": "Status",
    "col.share": "Share",
    "col.amount": "Amount",
    "col.count": "Sessions",
    "col.stage": "Stage",
    "col.sessions": "Sessions done",
    "col.reason": "Reason",
    "col.month": "Month",
    "col.handed_off": "Handed off",
    "no_project": "(none)",
    "reversal.of": "Reversal of the line of {date} ({status})",
    "reversal.unknown": "Reversal of an earlier entry",
    "by_level": "Subtotals by level",
    "by_status": "Subtotals by status",
    "totals": "Total",
    "total": "Total",
    "paid": "Paid",
    "outstanding": "Outstanding",
    "mentions": "Terms and notices",
    "payment_terms": "Payment within {days} days of the issue date.",
    "payment_terms_due": "Payment within {days} days of the issue date, by {due} at the latest.",
    "due_line": "Due date: {due}",
    "late_penalty": "Late payment penalties: {text}",
    "recovery": "Fixed compensation for recovery costs: {amount}",
    "iban": "IBAN: {iban}",
    "bic": "BIC: {bic}",
    "purchase_order": "Purchase order no. {number}",
    "status.done": "Session done",
    "status.noshow": "No-show",
    "status.late": "Late cancellation",
    "status.cancel": "Cancelled",
    "stage.waiting": "Waiting",
    "stage.active": "Active",
    "stage.paused": "Paused",
    "stage.handed_off": "Handed off",
    "stage.unmapped": "Off the pipeline",
    "stage.archived": "Archived",
    "stage.moved_away": "Moved away",
    "stage.deleted": "Deleted",
    "level": "Level {level}",
    "charts": "Charts",
    "chart.earnings": "Earnings over 12 months, by level",
    "chart.status": "This month's sessions by status",
    "chart.active": "Active students per day against the recommended cap",
    "chart.cfd": "Cumulative flow of the last 90 days, by stage",
    "chart.no_data": "No data",
    "title.month": "{month}: {amount}",
    "title.segment": "{month}, level {level}: {amount}",
    "title.status": "{status}: {count}",
    "title.day": "{day} — active students: {count}",
    "title.cap": "Recommended cap: {cap} active students",
    "title.stage": "{stage}: {last} on {day} ({low} to {high} over the period)",
    "legend.active": "Active students",
    "legend.over_cap": "Above the cap",
    "legend.cap": "Recommended cap ({cap})",
    "cap_label": "cap {cap}",
    "dashboard": "Dashboard",
    "as_of": "as of {date}",
    "kpi.active": "Active students",
    "kpi.of_cap": "recommended cap: {cap}",
    "kpi.over_cap": "exceeded",
    "kpi.earnings": "This month's earnings",
    "kpi.sessions": "Sessions done",
    "kpi.look": "Need a look",
    "students": "This month's students",
    "no_students": "No student this month.",
    "needs_a_look": "Students that need a look",
    "nothing_to_look": "Nothing to look at.",
    "time_in_stage": "Time in stage (days)",
    "flow": "Flow metrics",
    "flow.wip": "Work in progress",
    "flow.wip.def": "How many students are in the active stage today.",
    "flow.cycle": "Cycle time",
    "flow.cycle.def": (
        "For each student handed off in the last 12 months: the days from their first move "
        "to active to their hand-off. Shown as the median and the range (shortest to longest)."
    ),
    "flow.age": "Age of active mentorships",
    "flow.age.def": (
        "For each student active today: the days since their first move to active. Shown as "
        "the median and the range."
    ),
    "flow.throughput": "Throughput",
    "flow.throughput.def": "How many students were handed off per month, over the last 12 months.",
    "flow.policy": (
        "Paused time counts inside a mentorship's age and cycle time: the clock runs from the "
        "first move to active until the hand-off (or today)."
    ),
    "flow.median": "{median} (median)",
    "flow.range": "from {low} to {high}, over {count}",
    "flow.none": "no student",
    "students.one": "{count} student",
    "students.other": "{count} students",
    "days": "{count}" + NBSP + "d",
    "flag.no project": "no project",
    "flag.card deleted": "card deleted",
    "flag.on a list that maps to no stage": "on a list that maps to no stage",
    "flag.paused too long": "paused too long",
    "flag.no session lately": "no session lately",
    "month.1": "January",
    "month.2": "February",
    "month.3": "March",
    "month.4": "April",
    "month.5": "May",
    "month.6": "June",
    "month.7": "July",
    "month.8": "August",
    "month.9": "September",
    "month.10": "October",
    "month.11": "November",
    "month.12": "December",
    "month_short.1": "Jan",
    "month_short.2": "Feb",
    "month_short.3": "Mar",
    "month_short.4": "Apr",
    "month_short.5": "May",
    "month_short.6": "Jun",
    "month_short.7": "Jul",
    "month_short.8": "Aug",
    "month_short.9": "Sep",
    "month_short.10": "Oct",
    "month_short.11": "Nov",
    "month_short.12": "Dec",
}

LANGUAGES: dict[str, dict[str, str]] = {"fr": FR, "en": EN}

# French prints the euro sign; any other currency (and every currency in English) its code.
_FR_SYMBOLS = {"EUR": "€"}


@dataclass(frozen=True)
class Labels:
    """The texts of one language and the number and date formats that go with them."""

    language: str
    texts: Mapping[str, str]

    def __getitem__(self, key: str) -> str:
        return self.texts[key]

    def fmt(self, key: str, **values: object) -> str:
        return self.texts[key].format(**values)

    # --- numbers -------------------------------------------------------------------------

    def number(self, value: int) -> str:
        """An integer with thousands separators: `12 345` / `12,345`."""
        sep = NNBSP if self.language == "fr" else ","
        return _group(abs(value), sep, "-" if value < 0 else "")

    def decimal(self, value: float, places: int = 1) -> str:
        """A non-integer count (a median of days): `42,5` / `42.5`, `42` when whole."""
        text = f"{abs(value):.{places}f}".rstrip("0").rstrip(".")
        whole, _, frac = text.partition(".")
        sign = "-" if value < 0 and text != "0" else ""
        grouped = _group(int(whole), NNBSP if self.language == "fr" else ",", sign)
        if not frac:
            return grouped
        return grouped + ("," if self.language == "fr" else ".") + frac

    def amount(self, cents: int, currency: str, *, whole: bool = False) -> str:
        """`1 234,50 €` / `1,234.50 EUR`; `whole`: rounded to the unit, for chart axes."""
        sign = "-" if cents < 0 else ""
        units, frac = divmod(abs(cents), 100)
        if whole:
            units, frac = (abs(cents) + 50) // 100, -1
            if units == 0:
                sign = ""
        if self.language == "fr":
            text = _group(units, NNBSP, sign) + ("" if frac < 0 else f",{frac:02d}")
            return f"{text}{NBSP}{_FR_SYMBOLS.get(currency, currency)}"
        text = _group(units, ",", sign) + ("" if frac < 0 else f".{frac:02d}")
        return f"{text}{NBSP}{currency}"

    def money(self, money: Money) -> str:
        return self.amount(money.cents, money.currency)

    def percent(self, value: int) -> str:
        return f"{value}{NNBSP}%" if self.language == "fr" else f"{value}%"

    def students(self, count: int) -> str:
        """`1 élève`, `3 élèves`; French keeps 0 and 1 singular, English only 1."""
        one = count in (0, 1) if self.language == "fr" else count == 1
        return self.fmt("students.one" if one else "students.other", count=self.number(count))

    def days(self, value: float) -> str:
        return self.fmt("days", count=self.decimal(value))

    # --- dates ---------------------------------------------------------------------------

    def date(self, day: datetime.date) -> str:
        month = self.texts[f"month.{day.month}"]
        if self.language == "fr":
            return f"{'1er' if day.day == 1 else day.day} {month} {day.year}"
        return f"{day.day} {month} {day.year}"

    def day_month(self, day: datetime.date) -> str:
        """`5 mars` / `5 Mar`: a chart's axis."""
        return f"{day.day} {self.texts[f'month_short.{day.month}']}"

    def month(self, month: str) -> str:
        """`2026-03` → `mars 2026` / `March 2026`; anything else is returned as given."""
        parsed = _parse_month(month)
        if parsed is None:
            return month
        year, number = parsed
        return f"{self.texts[f'month.{number}']} {year}"

    def month_short(self, month: str) -> str:
        parsed = _parse_month(month)
        return month if parsed is None else self.texts[f"month_short.{parsed[1]}"]

    # --- names of things -----------------------------------------------------------------

    def kind(self, kind: DocumentKind) -> str:
        return self.texts[f"kind.{kind.value}"]

    def status(self, status: Status) -> str:
        return self.texts[f"status.{status.value}"]

    def stage(self, stage: Stage | None) -> str:
        return "—" if stage is None else self.texts[f"stage.{stage.value}"]

    def level(self, level: int) -> str:
        return self.fmt("level", level=level)

    def flag(self, flag: str) -> str:
        """A reason from domain/report.py in this language; an unknown one as written."""
        return self.texts.get(f"flag.{flag}", flag)


@cache
def labels_for(language: str) -> Labels:
    try:
        return Labels(language, LANGUAGES[language])
    except KeyError:
        known = ", ".join(sorted(LANGUAGES))
        raise ValueError(f"no labels for language {language!r} (known: {known})") from None


def _group(units: int, sep: str, sign: str) -> str:
    digits = str(units)
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return sign + sep.join(parts)


def _parse_month(month: str) -> tuple[int, int] | None:
    year, dash, number = month.partition("-")
    if not (dash and year.isdigit() and number.isdigit() and 1 <= int(number) <= 12):
        return None
    return int(year), int(number)
