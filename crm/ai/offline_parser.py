"""Sentence -> segment rule without any AI service: deterministic, and honest about what it skipped.

    reading = parse_text("spent over ₹5k and inactive for 3 months", today, facts)
    reading.rule            # a Group (or None when nothing was understood)
    reading.not_understood  # words it could not place, never silently guessed
    reading.readings        # how it read words: typos, city aliases, defaults

The text is split into clauses at "and", "or", commas, "who", "with"...; each clause yields
conditions (order activity, signup, money, order counts, age, gender, cities, tags) and any
words left over are reported. Clauses join with AND, "or" binds looser than "and"; neighbouring
cities (or genders) become one `in` list, neighbouring tags `contains_any` / `contains_all`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from crm.ai import words as w
from crm.ai.cues import (
    ACTIVE,
    AGE_CUES,
    AMOUNT,
    AVERAGE_CUES,
    BARE_AGE_COMPARATIVES,
    CITY_ALIASES,
    CONTRACTIONS,
    COUNT_NOUNS,
    FILLER,
    FIRST_ORDER,
    GENDER_WORDS,
    INACTIVE,
    LAST_ORDER,
    MONEY_CUES,
    NEGATIONS,
    PEOPLE,
    SIGNUP,
    WINDOW,
)
from crm.ai.facts import DataFacts
from crm.errors import InvalidInput
from crm.segment_engine import Group, parse_rule


@dataclass(frozen=True)
class OfflineReading:
    rule: Group | None
    not_understood: tuple[str, ...] = ()
    readings: tuple[str, ...] = ()


@dataclass
class _Item:
    connector: str  # "and" | "or": how it joins the item before it
    cond: dict
    negated: bool = False
    merge_key: str | None = None  # "city", "gender", "tags": neighbours of one key merge
    joined: bool = False  # first of its clause: joined to the one before by "and"/"or"/","


@dataclass
class _Clause:
    text: str
    connector: str
    readings: list[str] = field(default_factory=list)

    def take(self, start: int, end: int) -> None:
        self.text = self.text[:start] + " " * (end - start) + self.text[end:]

    def leftover(self) -> list[str]:
        return [t for t in re.findall(r"[a-z0-9.₹+<>=~'-]+", self.text) if t.strip(".'-") and t not in FILLER]


def parse_text(text: str, today: date, facts: DataFacts) -> OfflineReading:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("text", 'describe the audience in words, e.g. "spent over ₹5,000 in Pune"')
    if len(text) > 1000:
        raise InvalidInput("text", f"at most 1,000 characters, got {len(text)}")
    parser = _Parser(today, facts)
    return parser.parse(text)


class _Parser:
    def __init__(self, today: date, facts: DataFacts):
        self.today = today
        self.facts = facts
        self.readings: list[str] = []
        self.cities = {c.strip().lower(): c.strip() for c in facts.cities if c and c.strip()}
        for alias, target in CITY_ALIASES.items():
            if target in self.cities and alias not in self.cities:
                self.cities[alias] = self.cities[target]
        self.tags = {}
        for tag in facts.tags:
            key = tag.strip().lower()
            for form in {key, key.replace("_", " "), key.replace("-", " ")}:
                self.tags[form] = tag.strip()
                self.tags[form + "s"] = tag.strip()
        self.genders = {g.strip().lower(): g.strip() for g in facts.genders if g and g.strip()}

    # --- text preparation -------------------------------------------------------------------
    def normalise(self, text: str) -> str:
        t = text.lower().replace("’", "'").replace("–", "-").replace("—", "-")
        t = re.sub(r"(?<=\d),(?=\d)", "", t)
        t = re.sub(r"(?<=\d)\s*/-", "", t)
        t = re.sub(r"₹|\b(?:inr|rs\.?|rupees?|rupaye|bucks)(?=[\s\d]|$)", " rs ", t)
        for pattern, repl in CONTRACTIONS:
            t = re.sub(pattern, repl, t)
        t = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", t)
        t = re.sub(
            rf"\b({'|'.join(k for k in w.NUMBER_WORDS if ' ' not in k)})\s+(?=(?:{'|'.join(w.SCALES)})\b)",
            lambda m: f"{w.quantity(m.group(1)):g} ",
            t,
        )
        t = re.sub(r"(?<=[a-z])/(?=[a-z])", " or ", t)
        t = t.replace("&", " and ")
        t = re.sub(r"[!?\"()]", " ", t)
        t = re.sub(r"(?<![\d])\.(?!\d)", " ", t)
        t = re.sub(r"\s+", " ", t).strip()
        return self.correct_typos(t)

    def vocabulary(self) -> list[str]:
        vocab = set(FILLER) | set(w.NUMBER_WORDS) | set(w.DAYS_PER) | set(w.MONTHS) | set(w.SCALES)
        patterns = (INACTIVE, ACTIVE, SIGNUP, LAST_ORDER, FIRST_ORDER, MONEY_CUES, AVERAGE_CUES, AGE_CUES)
        for pattern in patterns:
            vocab |= _words_of(pattern.pattern)
        vocab |= _words_of(NEGATIONS + WINDOW.pattern + COUNT_NOUNS)
        vocab |= {p for ps in w.COMPARATIVES.values() for phrase in ps for p in phrase.split()}
        vocab |= {p for ps in GENDER_WORDS.values() for phrase in ps for p in phrase.split()}
        vocab |= {p for name in (*self.cities, *self.tags) for p in name.split()}
        vocab |= set(
            """recently recent repeat returning loyal multiple single time one senior seniors
            citizens elderly teenagers teens their twenties thirties forties fifties sixties since ago
            before after between more less than least most exactly days weeks months years anything
            than untagged tagged""".split()
        )
        return sorted(vocab)

    def correct_typos(self, text: str) -> str:
        vocab = self.vocabulary()
        known = set(vocab)
        out = []
        for token in text.split(" "):
            if len(token) >= 4 and token.isalpha() and token not in known:
                close = difflib.get_close_matches(token, vocab, n=1, cutoff=0.8)
                if close:
                    self.readings.append(f"read “{token}” as “{close[0]}”")
                    token = close[0]
            out.append(token)
        return " ".join(out)

    def protect(self, t: str) -> str:
        """Rewrite ranges and suffix comparatives so splitting at "and"/"or" cannot break them."""
        amt = rf"(?:rs\s*)?{w.AMOUNT}(?:\s*rs\b)?"
        t = re.sub(rf"\b(?:between|from)\s+({amt})\s*(?:and|to|-|~)\s*({amt})", r"between \1 ~ \2", t)
        t = re.sub(rf"(?<![\w~])({amt})\s*(?:-|to)\s*({amt})", r"between \1 ~ \2", t)
        t = re.sub(
            rf"(?<![\w~])({amt}|{w.QUANTITY})\s*(?:\+|or more|and above|and more|or above|plus|or higher)",
            r"at least \1",
            t,
        )
        t = re.sub(
            rf"(?<![\w~])({amt}|{w.QUANTITY})\s*(?:or less|and below|or fewer|and less|or below|or lower)",
            r"at most \1",
            t,
        )
        return re.sub(r"\s+", " ", t)

    def clauses(self, t: str) -> list[_Clause]:
        parts = re.split(
            r"\s*(,|;|\band\b|\bor\b|\bbut\b|\bwho\b|\bwhose\b|\bwith\b|\bthat\b|\bhaving\b|"
            r"\bwhich\b|\balso\b)\s*",
            t,
        )
        clauses, connector = [], "and"
        for i, part in enumerate(parts):
            if i % 2:  # a separator: "or" wins over any "and"/"," next to it
                connector = "or" if part == "or" else connector
            elif part.strip():
                clauses.append(_Clause(f" {part} ", connector))
                connector = "and"
        return clauses

    # --- the parse ------------------------------------------------------------------------
    def parse(self, text: str) -> OfflineReading:
        prepared = self.protect(self.normalise(text))
        items: list[_Item] = []
        unknown: list[str] = []
        for clause in self.clauses(prepared):
            found = self.read_clause(clause)
            if found:
                found[0].connector = clause.connector
                found[0].joined = True
            items.extend(found)
            rest = clause.leftover()
            if rest:
                unknown.append(" ".join(rest))
        items = _merge(items)
        rule = None
        if items:
            rule = parse_rule(_combine(items))
        return OfflineReading(rule, tuple(unknown), tuple(self.readings))

    def read_clause(self, c: _Clause) -> list[_Item]:
        items: list[_Item] = []
        for reader in (self.order_activity, self.signup, self.order_count, self.money, self.age):
            item = reader(c)
            if item:
                items.append(item)
        items += self.entities(c)
        items.sort(key=lambda i: i.cond.get("_at", 0))
        negation = re.search(NEGATIONS, c.text)
        if negation and items:
            c.take(*negation.span())
            following = [i for i in items if negation.start() < i.cond.get("_at", len(c.text))]
            if following:
                following[0].negated = not following[0].negated
        return items

    # --- readers: each finds one condition in a clause and blanks the words it used ---------
    def window(self, c: _Clause) -> int | None:
        match = WINDOW.search(c.text)
        if not match:
            return None
        n, unit = match.group("n", "unit") if match.group("unit") else match.group("n2", "unit2")
        c.take(*match.span())
        return round((w.quantity(n) if n else 1) * w.DAYS_PER[unit])

    def duration(self, c: _Clause, start: int = 0) -> int | None:
        match = w.DURATION.search(c.text, start)
        if not match or not (match.group("n") or match.group("unit")):
            return None
        days = w.days_of(match)
        begin = match.start()
        lead = re.search(
            r"(?:\b(?:for|in|since|over|during|of|the|last|past|almost|about|around|nearly|more than)"
            r"\s+)+$",
            c.text[:begin],
        )
        c.take(lead.start() if lead else begin, match.end())
        ago = re.match(r"\s*ago\b", c.text[match.end() :])
        if ago:
            c.take(match.end(), match.end() + ago.end())
        return days

    def order_activity(self, c: _Clause) -> _Item | None:
        last = LAST_ORDER.search(c.text) or FIRST_ORDER.search(c.text)
        if last:
            return self.order_date(c, last)
        inactive = INACTIVE.search(c.text)
        if inactive:
            for synonym in INACTIVE.finditer(c.text):
                c.take(*synonym.span())
            since = re.search(r"\b(?:since|before)\b", c.text)
            if since:
                found = w.find_date(c.text[since.end() :], self.today)
                if found and not re.match(rf"\s*{w.QUANTITY}?\s*(?:{w.UNIT})\b", c.text[since.end() :]):
                    day, match = found
                    c.take(since.start(), since.end() + match.end())
                    return _Item(
                        "and",
                        {
                            "field": "last_order_date",
                            "operator": "before",
                            "value": day.isoformat(),
                            "_at": inactive.start(),
                        },
                    )
            days = self.duration(c)
            if days is not None:
                return _Item(
                    "and", {"field": "days_since_last_order", "operator": ">", "value": days, "_at": inactive.start()}
                )
            phrase = inactive.group(0)
            if re.search(r"order|purchase|bought|transact|buy|shop", phrase) and not re.search(r"recent", c.text):
                ever = re.search(r"\b(?:ever|yet|at all|till now|so far)\b", c.text)
                if ever:
                    c.take(*ever.span())
                return _Item("and", {"field": "order_count", "operator": "=", "value": 0, "_at": inactive.start()})
            c.text = c.text[: inactive.start()] + phrase + c.text[inactive.end() :]  # unread: for how long?
            return None
        active = ACTIVE.search(c.text)
        if active and not re.search(rf"\b{COUNT_NOUNS}\b|\brs\b|{MONEY_CUES.pattern}", c.text[active.end() :]):
            days = self.window(c)
            since = re.search(r"\b(?:since|after)\b", c.text) if days is None else None
            if since:
                found = w.find_date(c.text[since.end() :], self.today)
                if found:
                    day, match = found
                    c.take(since.start(), since.end() + match.end())
                    c.take(*active.span())
                    before = day - timedelta(days=1) if since.group(0) == "since" else day
                    return _Item(
                        "and",
                        {
                            "field": "last_order_date",
                            "operator": "after",
                            "value": before.isoformat(),
                            "_at": active.start(),
                        },
                    )
            if days is None:
                days = self.recent_days(c)
            if days is not None:
                c.take(*active.span())
                return _Item(
                    "and",
                    {"field": "last_order_date", "operator": "in_last_days", "value": days, "_at": active.start()},
                )
        return None

    def recent_days(self, c: _Clause) -> int | None:
        for phrase, days in (
            ("this week", 7),
            ("last week", 7),
            ("this month", 30),
            ("last month", 30),
            ("this year", 365),
            ("last year", 365),
            ("yesterday", 1),
            ("today", 0),
        ):
            match = re.search(rf"\b(?:in |during |over )?(?:the )?{phrase}\b", c.text)
            if match:
                c.take(*match.span())
                return days
        return None

    def order_date(self, c: _Clause, m: re.Match) -> _Item | None:
        name = "last_order_date" if m.group(0).startswith("last") else "first_order_date"
        c.take(*m.span())
        when = re.search(r"\b(?:before|after|on|since)\b", c.text)
        if when:
            found = w.find_date(c.text[when.end() :], self.today)
            if found:
                day, match = found
                c.take(when.start(), when.end() + match.end())
                op = {"since": "after"}.get(when.group(0), when.group(0))
                if when.group(0) == "since":
                    day -= timedelta(days=1)
                return _Item("and", {"field": name, "operator": op, "value": day.isoformat(), "_at": m.start()})
        days = self.window(c) or self.recent_days(c)
        if days is not None:
            return _Item("and", {"field": name, "operator": "in_last_days", "value": days, "_at": m.start()})
        cmp = self.comparative_duration(c)
        if cmp:
            op, days = cmp
            if name == "last_order_date":
                return _Item("and", {"field": "days_since_last_order", "operator": op, "value": days, "_at": m.start()})
            return _Item("and", _ago(name, op, days) | {"_at": m.start()})
        c.text = c.text[: m.start()] + m.group(0) + c.text[m.end() :]
        return None

    def comparative_duration(self, c: _Clause) -> tuple[str, int] | None:
        """'more than 3 months ago' -> ('>', 90)."""
        match = w.DURATION.search(c.text)
        if not match or not match.group("unit"):
            return None
        found = w.comparative_before(c.text, match.start())
        op, start = found if found else (">=", match.start())
        if not found:
            self.readings.append(f"read “{match.group(0).strip()}” as at least {match.group(0).strip()}")
        end = match.end()
        ago = re.match(r"\s*(?:ago|back|old)\b", c.text[end:])
        end += ago.end() if ago else 0
        c.take(start, end)
        return op, w.days_of(match)

    def signup(self, c: _Clause) -> _Item | None:
        m = SIGNUP.search(c.text)
        if not m:
            return None
        c.take(*m.span())
        at = m.start()
        when = re.search(r"\b(?:before|after|on|since|in|from|during)\b", c.text)
        if when:
            rest = c.text[when.end() :]
            found = w.find_date(rest, self.today)
            if found and not re.match(r"\s*(?:the\s+)?(?:last|past)\b", rest):
                day, match = found
                word = when.group(0)
                c.take(when.start(), when.end() + match.end())
                text = match.group(0)
                if word in ("in", "during") or (
                    word == "on" and not re.search(r"\d{1,2}", text[:3]) and not re.match(r"\d{4}-", text)
                ):
                    return _Item(
                        "and",
                        {"field": "signup_date", "operator": "between", "value": list(_period(day, text)), "_at": at},
                    )
                if word in ("since", "from"):
                    return _Item(
                        "and",
                        {
                            "field": "signup_date",
                            "operator": "after",
                            "value": (day - timedelta(days=1)).isoformat(),
                            "_at": at,
                        },
                    )
                return _Item("and", {"field": "signup_date", "operator": word, "value": day.isoformat(), "_at": at})
        this = re.search(r"\bthis (?P<unit>year|month)\b", c.text)
        if this:  # the calendar year or month so far
            c.take(*this.span())
            first = self.today.replace(month=1, day=1) if this.group("unit") == "year" else self.today.replace(day=1)
            return _Item(
                "and",
                {
                    "field": "signup_date",
                    "operator": "between",
                    "value": [first.isoformat(), self.today.isoformat()],
                    "_at": at,
                },
            )
        days = self.window(c) or self.recent_days(c)
        if days is not None:
            return _Item("and", {"field": "signup_date", "operator": "in_last_days", "value": days, "_at": at})
        cmp = self.comparative_duration(c)
        if cmp:
            return _Item("and", _ago("signup_date", *cmp) | {"_at": at})
        c.text = c.text[: m.start()] + m.group(0) + c.text[m.end() :]
        return None

    def order_count(self, c: _Clause) -> _Item | None:
        idioms = (
            (
                r"\brepeat (?:customers?|buyers?|purchasers?|shoppers?)\b|\breturning (?:customers?|buyers?)\b|"
                r"\bmultiple (?:orders|purchases)\b|\bmore than once\b",
                ">=",
                2,
            ),
            (
                r"\bone time (?:customers?|buyers?|purchasers?|shoppers?)\b|\bsingle (?:order|purchase)\b|"
                r"\bonly once\b|\bexactly once\b|\bjust once\b|\bone order\b|\bone purchase\b",
                "=",
                1,
            ),
            (r"\bzero (?:orders|purchases)\b", "=", 0),
        )
        for pattern, op, n in idioms:
            m = re.search(pattern, c.text)
            if m and not re.search(rf"{w.QUANTITY}\s*{COUNT_NOUNS}", c.text[: m.start()]):
                c.take(*m.span())
                cond = {"field": "order_count", "operator": op, "value": n, "_at": m.start()}
                days = self.window(c)
                if days:
                    cond["within_days"] = days
                return _Item("and", cond)
        m = re.search(
            rf"(?:\b(?:ordered|purchased|bought|shopped|placed|made)\s+)?(?P<num>\b(?:between\s+)?"
            rf"{w.QUANTITY}(?:\s*~\s*{w.QUANTITY})?)\s*(?:or more\s+)?{COUNT_NOUNS}\b",
            c.text,
        )
        if not m or MONEY_CUES.search(c.text[: m.start("num")][-12:] + " "):
            return None
        op, value = self.number_with_comparative(c, m.start("num"), m.group("num"), default="=")
        c.take(*m.span())
        cond = {"field": "order_count", "operator": op, "value": value, "_at": m.start()}
        days = self.window(c) or self.recent_days(c)
        if days:
            cond["within_days"] = days
        if not _whole(value):
            return None
        return _Item("and", cond)

    def number_with_comparative(self, c: _Clause, start: int, text: str, default: str, parse=w.quantity):
        text = text.strip()
        if "~" in text:
            low, high = (p.replace("between", "").replace("rs", "").strip() for p in text.split("~"))
            if re.fullmatch(r"[\d.]+", low) and not re.fullmatch(r"[\d.]+", high):
                low += re.sub(r"^[\d.\s]+", " ", high)  # "2-3 lakh": the scale is the high end's
            lo, hi = parse(low), parse(high)
            return "between", [_num(min(lo, hi)), _num(max(lo, hi))]
        found = w.comparative_before(c.text, start)
        if found:
            op, at = found
            c.take(at, start)
            return op, _num(parse(text))
        if default != "=":
            self.readings.append(f"read “{text}” as at least {text}")
        return default, _num(parse(text))

    def money(self, c: _Clause) -> _Item | None:
        cue = MONEY_CUES.search(c.text)
        # The first number that is not a duration, a count of orders or an age.
        amount = next(
            (
                m
                for m in AMOUNT.finditer(c.text)
                if not re.match(rf"\s*(?:{w.UNIT}|{COUNT_NOUNS}|years? old|yrs?)\b", c.text[m.end() :])
            ),
            None,
        )
        if not amount or not (
            cue or "rs" in amount.group(0) or re.search(rf"\d\s*(?:{'|'.join(w.SCALES)})\b", amount.group(0))
        ):
            return None
        average = AVERAGE_CUES.search(c.text)
        name = "avg_order_value" if average else "total_spend"
        for pattern in (AVERAGE_CUES, MONEY_CUES):
            for m in pattern.finditer(c.text):
                if m.group(0) != "rs":
                    c.take(*m.span())
        num = amount.group("num").replace("rs", " ")
        op, value = self.number_with_comparative(
            c, amount.start(), num, default=">=", parse=lambda s: w.amount(s.strip())
        )
        c.take(*amount.span())
        cond = {"field": name, "operator": op, "value": value, "_at": amount.start()}
        days = self.window(c) or self.recent_days(c)
        if days:
            cond["within_days"] = days
        return _Item("and", cond)

    def age(self, c: _Clause) -> _Item | None:
        for pattern, op, value in (
            (r"\bsenior citizens?\b|\bseniors\b|\belderly\b", ">=", 60),
            (r"\bteenagers?\b|\bteens\b", "between", [13, 19]),
        ):
            m = re.search(pattern, c.text)
            if m:
                c.take(*m.span())
                return _Item("and", {"field": "age", "operator": op, "value": value, "_at": m.start()})
        decades = {"twenties": 20, "thirties": 30, "forties": 40, "fifties": 50, "sixties": 60}
        m = re.search(
            r"\bin (?:their|his|her|the) "
            r"(?:(?P<d>[2-7]0)'?s|(?P<word>twenties|thirties|forties|fifties|sixties))\b",
            c.text,
        )
        if m:
            lo = int(m.group("d")) if m.group("d") else decades[m.group("word")]
            c.take(*m.span())
            return _Item("and", {"field": "age", "operator": "between", "value": [lo, lo + 9], "_at": m.start()})
        cue = AGE_CUES.search(c.text)
        if not cue:
            return self.bare_age(c)
        number = re.search(r"(?:between\s+)?\b\d{1,3}(?:\s*~\s*\d{1,3})?\b", c.text)
        if not number:
            return None
        c.take(*cue.span())
        op, value = self.number_with_comparative(c, number.start(), number.group(0), default="=")
        c.take(*number.span())
        return _Item("and", {"field": "age", "operator": op, "value": value, "_at": number.start()})

    def bare_age(self, c: _Clause) -> _Item | None:
        """ "customers over 45", "youngsters under 21": a comparative and a plausible age right
        after a word for people, with nothing after it that makes it money, orders or time."""
        m = re.search(
            rf"\b{PEOPLE}\s+(?:who are\s+|aged?\s+)?(?P<cmp>{BARE_AGE_COMPARATIVES})\s+"
            rf"(?P<n>\d{{2,3}})\b(?!\s*(?:{w.UNIT}|{COUNT_NOUNS}|rs\b|%|k\b|\.\d|,\d))",
            c.text,
        )
        if not m or not 10 <= int(m.group("n")) <= 110:
            return None
        if not any(m.group("people") in words for words in GENDER_WORDS.values()):  # read later as the gender
            c.take(*m.span("people"))
        c.take(m.start("cmp"), m.end("n"))
        self.readings.append(f"read “{m.group('cmp')} {m.group('n')}” after “{m.group('people')}” as an age")
        op = ">" if m.group("cmp") in ("over", "above", "older than") else "<"
        return _Item("and", {"field": "age", "operator": op, "value": int(m.group("n")), "_at": m.start("n")})

    def entities(self, c: _Clause) -> list[_Item]:
        items = []
        untagged = re.search(r"\b(?:untagged|(?:no|without|without any|not having any) tags?)\b", c.text)
        if untagged:
            c.take(*untagged.span())
            items.append(_Item("and", {"field": "tags", "operator": "is_empty", "_at": untagged.start()}))
        for canonical, phrases in GENDER_WORDS.items():
            for phrase in phrases:
                for m in re.finditer(rf"\b{phrase}\b", c.text):
                    value = self.genders.get(canonical, canonical)
                    c.take(*m.span())
                    items.append(
                        _Item(
                            "and",
                            {"field": "gender", "operator": "=", "value": value, "_at": m.start()},
                            merge_key="gender",
                        )
                    )
        items += self.names(c, self.cities, "city", "=", "city")
        items += self.names(c, self.tags, "tags", "contains", "tags")
        items.sort(key=lambda i: i.cond.get("_at", 0))
        return items

    def names(self, c: _Clause, table: dict[str, str], name: str, op: str, key: str) -> list[_Item]:
        """Values from the data named in the clause (longest names first)."""
        items = []
        for form in sorted(table, key=len, reverse=True):
            for m in re.finditer(rf"\b{re.escape(form)}\b", c.text):
                value = table[form]
                if form.replace(" ", "") != value.lower().replace(" ", "").replace("_", "") and form.rstrip(
                    "s"
                ) != value.lower().replace("_", " "):
                    self.readings.append(f"read “{form}” as {name} {value}")
                c.take(*m.span())
                items.append(
                    _Item("and", {"field": name, "operator": op, "value": value, "_at": m.start()}, merge_key=key)
                )
        return items


def _words_of(pattern: str) -> set[str]:
    """The words a regex pattern spells (escapes such as \\b removed first)."""
    return set(re.findall(r"[a-z]{3,}", re.sub(r"\\[a-zA-Z]", " ", pattern)))


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 2)


def _whole(value) -> bool:
    values = value if isinstance(value, list) else [value]
    return all(float(v).is_integer() for v in values)


def _ago(name: str, op: str, days: int) -> dict:
    """A date field compared with "N days ago": more than N ago is before today-N."""
    table = {
        ">": ("not_in_last_days", days),
        ">=": ("not_in_last_days", max(days - 1, 0)),
        "<": ("in_last_days", max(days - 1, 0)),
        "<=": ("in_last_days", days),
        "=": ("in_last_days", days),
    }
    operator, n = table[op]
    return {"field": name, "operator": operator, "value": n}


def _period(day: date, text: str) -> tuple[str, str]:
    """'2024' -> the year; 'march 2024' -> the month; a full date -> that day."""
    if re.fullmatch(r"\d{4}", text.strip()):
        return day.isoformat(), date(day.year, 12, 31).isoformat()
    if not re.search(r"\d{1,2}(?:st|nd|rd|th)?\s+[a-z]|[a-z]\s+\d{1,2}\b(?!\d)|\d{4}-\d", text):
        following = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        return day.isoformat(), (following - timedelta(days=1)).isoformat()
    return day.isoformat(), day.isoformat()


_NEGATE = {
    "=": "!=",
    "!=": "=",
    "in": "not_in",
    "not_in": "in",
    "contains": "not_contains",
    "not_contains": "contains",
    "contains_any": None,
    "is_empty": "is_not_empty",
    "is_not_empty": "is_empty",
}


def _merge(items: list[_Item]) -> list[_Item]:
    """Neighbouring cities/genders -> one in-list; neighbouring tags -> contains_any/all."""
    merged: list[_Item] = []
    for item in items:
        prev = merged[-1] if merged else None
        # "not in Delhi or Mumbai": the negation of a list carries to the values joined after it
        if (
            prev
            and item.joined
            and item.merge_key
            and prev.merge_key == item.merge_key
            and (prev.negated or not item.negated)
            and (item.merge_key != "tags" or prev.cond["operator"] in ("contains", "contains_any", "contains_all"))
        ):
            values = prev.cond["value"] if isinstance(prev.cond["value"], list) else [prev.cond["value"]]
            values = values + [item.cond["value"]]
            if item.merge_key == "tags":
                op = "contains_any" if item.connector == "or" else "contains_all"
                if prev.cond["operator"] not in ("contains", op):
                    merged.append(item)
                    continue
            else:
                op = "in"
            prev.cond = {"field": prev.cond["field"], "operator": op, "value": list(dict.fromkeys(values))}
            continue
        merged.append(item)
    return merged


def _finish(item: _Item) -> dict:
    cond = {k: v for k, v in item.cond.items() if not k.startswith("_")}
    if not item.negated:
        return cond
    if item.merge_key and _NEGATE.get(cond["operator"]):
        return {**cond, "operator": _NEGATE[cond["operator"]]}
    return {"op": "and", "not": True, "rules": [cond]}


def _combine(items: list[_Item]) -> dict:
    """AND binds tighter than OR: a or b and c -> a OR (b AND c)."""
    runs: list[list[dict]] = [[]]
    for i, item in enumerate(items):
        if i and item.connector == "or":
            runs.append([])
        runs[-1].append(_finish(item))
    if len(runs) == 1:
        return {"op": "and", "rules": runs[0]}
    return {"op": "or", "rules": [run[0] if len(run) == 1 else {"op": "and", "rules": run} for run in runs]}
