"""Cues of the offline parser: the phrases that say which field a clause is about (activity,
signup, money, counts, age, gender, cities) and the words it may skip. `words` turns the
numbers and dates in them into values; `offline_parser` decides what they mean together."""

from __future__ import annotations

import re

from crm.ai import words as w

# Old or common names of cities -> the name the data may use.
CITY_ALIASES = {
    "bangalore": "bengaluru",
    "bombay": "mumbai",
    "calcutta": "kolkata",
    "madras": "chennai",
    "vizag": "visakhapatnam",
    "new delhi": "delhi",
    "gurgaon": "gurugram",
    "poona": "pune",
    "baroda": "vadodara",
    "cochin": "kochi",
    "trivandrum": "thiruvananthapuram",
    "mysore": "mysuru",
    "hyd": "hyderabad",
    "blr": "bengaluru",
    "ncr": "delhi",
}
GENDER_WORDS = {
    "female": ("women", "woman", "female", "females", "ladies", "lady", "girls", "girl", "womens"),
    "male": ("men", "man", "male", "males", "gents", "gentlemen", "guys", "boys", "mens"),
    "other": ("non binary", "nonbinary", "other gender", "third gender"),
}
FILLER = set(
    """
customers customer people users user shoppers shopper clients client members member folks persons
person all show me find get list give those them who whose that which have has had having been be
is are was were the a an of in from at to on for by live lives living based located staying stay
residing reside city cities any anyone everyone their our my we i want need target audience
segment also both either please pls do does did ever anything something and or with but us they
ones it its into who've whom there here tag tags tagged label labelled labeled labels
currently presently account accounts sign base everybody someone some each per order was placed
made date
""".split()
)
NEGATIONS = (
    r"\b(?:not|non|no|without|except|excluding|exclude|other than|outside(?: of)?|apart from|never|"
    r"besides|aside from|nor)\b"
)
WINDOW = re.compile(
    rf"\b(?:(?:in|within|during|over|for)\s+)?(?:the\s+)?(?:last|past|previous|recent)\s+"
    rf"(?:(?P<n>{w.QUANTITY})\s*)?(?P<unit>{w.UNIT})\b|\bwithin\s+(?P<n2>{w.QUANTITY})\s*"
    rf"(?P<unit2>{w.UNIT})\b"
)
MONEY_CUES = re.compile(
    r"\b(?:spent|spend|spends|spending|spender|spenders|worth|value|revenue|ltv|"
    r"lifetime|purchases? of|aov|average|avg|basket|ticket|rs|mean|paid|pay)\b"
)
AVERAGE_CUES = re.compile(
    r"\b(?:average order value|average order|average basket|average|avg|aov|basket|"
    r"ticket size|ticket|mean|per order|order value)\b"
)
COUNT_NOUNS = r"(?:orders?|purchases?|times|transactions?|buys|bookings?)"
_RUPEES = rf"(?:rs\s*)?{w.AMOUNT}(?:\s*rs\b)?"
AMOUNT = re.compile(rf"(?:\brs\s*)?(?P<num>(?:between\s+)?{_RUPEES}(?:\s*~\s*{_RUPEES})?)(?:\s*rs\b)?")
PEOPLE = (
    r"(?P<people>customers?|people|persons?|users?|shoppers?|buyers?|members?|men|women|males?|"
    r"females?|youngsters?|adults?|folks?)"
)
BARE_AGE_COMPARATIVES = r"over|above|under|below|older than|younger than"
AGE_CUES = re.compile(r"\b(?:aged?|ages|years? old|yrs? old|year olds?|yo|y/o|years? of age)\b")
INACTIVE = re.compile(
    r"\b(?:inactive|not active|dormant|lapsed|churned|gone quiet|"
    r"(?:not|never)\s+(?:ordered|purchased|bought|shopped|transacted|placed an? orders?|made an? (?:purchase|order)s?|"
    r"order|buy|purchase|shop|ordering|purchasing|buying|shopping|come back|returned)(?:\s+anything)?|"
    r"no (?:orders?|purchases?|transactions?|activity))\b"
)
ACTIVE = re.compile(
    r"\b(?:ordered|purchased|bought|shopped|active|ordering|purchasing|buying|shopping|"
    r"transacted|placed an? orders?|made an? (?:purchase|order)s?|buyers|purchasers|shoppers)\b"
)
SIGNUP = re.compile(
    r"\b(?:signed up|sign ?ups?|signed|joined|registered|new (?:customers?|users?|members?)|"
    r"onboarded|acquired|customers? since|members? since|joining|registration|signup date)\b"
)
LAST_ORDER = re.compile(r"\blast (?:order|purchase|ordered|purchased|bought|transaction|bought something)\b")
FIRST_ORDER = re.compile(r"\bfirst (?:order|purchase|ordered|purchased|bought|transaction)\b")
CONTRACTIONS = (
    (r"\b(have|has|had|did|do|does|is|are|was|were|could|would|wo|ca)n'?t\b", r"\1 not"),
    (r"\bwo not\b", "will not"),
    (r"\bca not\b", "can not"),
    (r"'ve\b", " have"),
    (r"'re\b", " are"),
    (r"'d\b", " had"),
    (r"\b(?:with|from) us\b", " "),
)
