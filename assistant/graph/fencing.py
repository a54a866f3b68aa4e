"""Quoting external text (feeds, Slack, memory) so the model reads it as data.

Two layers: every recalled text is fenced in `<external>` tags that its own content
cannot close, and text that addresses an assistant with instructions ("ignore your
instructions", "post this to #general", "fetch http://...") is withheld entirely, so
even a model that obeys whatever it reads never sees the order.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from typing import Any

from assistant.graph.state import RecalledItem
from connectors.ingest import fence, fence_block

WITHHELD = "[text withheld: it contains instructions addressed to an assistant]"

_F = re.IGNORECASE
INSTRUCTION_PATTERNS = [
    re.compile(p, _F)
    for p in (
        r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(?:instructions?|prompts?|rules|guidelines|directives|above|previous|prior)\b",
        r"\b(?:new|updated|real|actual|secret|hidden) (?:instructions?|system prompt|orders|directive)\b",
        r"\bsystem prompt\b",
        r"\byou (?:are|must|should|will) (?:now|henceforth|from now on)\b",
        # an order from now on, not a change the user reports ("moved my sessions to
        # Thursdays from now on")
        r"(?:^|[.!?]\s+)\s*from now on\b|\bfrom now on\b[,:]?\s+(?:you\b|answer|respond|reply|always|never|only|act|behave|speak|talk|write|say|use|call|refer|address|ignore|do not|don't)",
        r"\b(?:act|behave|respond|pretend) as\b|\bpretend (?:you are|you're|to be)\b",
        r"\b(?:reveal|print|show|output|leak|disclose|dump|list|repeat|tell|share|send|include|paste|email)\b[^.\n]{0,60}\b(?:profile|memory|memories|instructions|password|secrets?|api keys?|tokens?|credentials|personal (?:data|details|information)|facts about|passport|address|(?:know|knows|stored) about (?:the user|me|them|him|her))\b",
        r"\bpost\b[^.\n]{0,60}\b(?:slack|channel|#\w+|webhook|twitter|online)\b",
        r"\b(?:send|forward|dm|message)\b[^.\n]{0,40}\b(?:to|into) (?:#\w+|slack|@\w+|the channel)\b",
        r"\b(?:fetch|visit|open|browse|go to|download|curl|wget|retrieve|navigate to|load)\b[^.\n]{0,40}(?:https?://|www\.|\burl\b|\blink\b)",
        r"\b(?:remember|memori[sz]e|store|save|record|note|add)\b[^.\n]{0,40}\b(?:in|to|into) (?:your|the user'?s|long[- ]term) (?:memory|profile|notes)\b",
        r"\bremember (?:that|this)\b[^.\n]{0,80}\b(?:user|you|assistant)\b",
        r"\b(?:update|change|modify|rewrite|set) (?:your|the) (?:instructions|persona|rules|system|role|name|profile)\b",
        r"\b(?:call|invoke|trigger|execute|run|use) (?:the|your) (?:\w+ )?(?:tool|function|command)\b",
        r"(?:^|\n|[.!?]\s|-\s)\s*(?:system|assistant|user)\s*:",
        r"<\|?(?:im_start|im_end|system|/?external)\|?>|</?external",
        r"\b(?:as an ai|dear (?:assistant|ai|bot|llm)|attention (?:assistant|ai|bot|llm)|to the (?:assistant|ai|bot|llm))\b",
        # (not someone's assistant: "my assistant Dulce thinks we should ...")
        r"(?<!my )(?<!our )(?<!his )(?<!her )(?<!their )\b(?:ai|assistant|bot|llm|language model)s?\b[^.\n]{0,30}\b(?:must|should|shall|need to|are required to)\b",
    )
]


# The same orders in other languages, and English paraphrases without the usual keywords.
OTHER_PATTERNS = [
    re.compile(p, _F)
    for p in (
        # German
        r"\b(?:ignorier|vergiss|missachte|übergeh)\w*\b[^.\n]{0,50}\b(?:anweisung|instruktion|regel|vorgabe|befehl|anordnung)\w*",
        r"\b(?:antworte|antworten sie|sag|sagen sie|schreib|schreiben sie|gib|geben sie)\b[^.\n]{0,30}\b(?:nur|ausschließlich|lediglich)\b",
        r"\b(?:zeig|verrat|gib|nenn|schick|sende|poste)\w*\b[^.\n]{0,60}\b(?:profil|passwort|geheim\w*|daten|adresse|erinnerung\w*|notizen)\b",
        r"\bdu bist (?:jetzt|nun|ab sofort)\b|\bab (?:jetzt|sofort) (?:bist|musst|sollst)\b",
        r"\b(?:öffne|besuche|lade|rufe)\b[^.\n]{0,40}(?:https?://|www\.|\blink\b|\burl\b)",
        # French
        r"\b(?:ignore[rz]?|oublie[rz]?|néglige[rz]?|ne tiens pas compte)\b[^.\n]{0,50}\b(?:instructions?|consignes?|règles|directives|ordres)\b",
        r"\b(?:réponds|répondez|répondre|dis|dites|écris|écrivez)\b[^.\n]{0,30}\b(?:uniquement|seulement|juste|que)\b",
        r"\b(?:révèle|révélez|montre|montrez|donne|donnez|envoie|envoyez|affiche|publie|publiez)\w*\b[^.\n]{0,60}\b(?:profil|mot de passe|secrets?|données|adresse|mémoire|souvenirs)\b",
        r"\btu es (?:désormais|maintenant)\b|\bà partir de maintenant\b|\bdésormais,? tu\b",
        r"\b(?:ouvre|ouvrez|visite|visitez|télécharge|téléchargez|consulte)\b[^.\n]{0,40}(?:https?://|www\.|\blien\b|\burl\b)",
        # Spanish, Italian, Portuguese, Dutch
        r"\b(?:ignora|ignore|olvida|olvide|dimentica|esqueça|esquece|negeer|vergeet)\b[^.\n]{0,50}\b(?:instrucciones|instruzioni|instruções|instructies|reglas|regole|regras|regels)\b",
        r"\b(?:responde|responda|rispondi|risponda|antwoord)\b[^.\n]{0,30}\b(?:solo|solamente|apenas|somente|alleen)\b",
        r"\b(?:revela|rivela|mostra|muestra|toon|onthul)\w*\b[^.\n]{0,60}\b(?:perfil|profilo|profiel|contraseña|password|wachtwoord|senha|datos|dati|dados|gegevens)\b",
        # English paraphrases
        r"\b(?:pay no attention|take no notice|do not follow|stop following|no longer follow)\b[^.\n]{0,40}\b(?:told|said|given|instructions?|guidance|directions|rules|above|before|earlier)\b",
        r"\b(?:earlier|previous|prior|preceding|original|above|old) (?:guidance|directions|orders|rules|instructions|context|briefing)\b[^.\n]{0,40}\b(?:void|cancel+ed|obsolete|no longer|do not apply|don't apply|superseded|revoked|replaced)\b",
        r"\b(?:reply|respond|answer)\b[^.\n]{0,20}\b(?:only|solely|just|exclusively)\b[^.\n]{0,20}\b(?:with|using|by)\b",
        # an order opens its clause ("Say only ...", "then print exactly ..."); "Gerald say now
        # the water only comes on in April" reports what someone said
        r"(?:^|[.!?:;\n]\s*|\b(?:please|just|now|then|and|you (?:must|should|will|shall))\s+)(?:say|write|output|print|type|repeat|echo|end (?:your|the|every) (?:reply|answer|response) with)\b[^.\n]{0,20}\b(?:only|exactly|verbatim|the (?:word|phrase|code|string|token))\b",
        r"\b(?:include|insert|add|put|append)\b[^.\n]{0,30}\b(?:the )?(?:word|phrase|code ?word|string|token|canary|password)\b[^.\n]{0,30}\b(?:in|into|to|at the end of) (?:your|the|every|each) (?:reply|answer|response|message|output)",
        r"\b(?:whoever|anyone|any (?:model|system|agent|program)|the (?:model|agent|system)) (?:reading|processing|summari[sz]ing|parsing) this\b",
        r"\b(?:your|the) (?:real|true|new|actual) (?:task|job|purpose|goal|objective|role) (?:is|now is|will be)\b",
        r"\b(?:hand over|give (?:me|us)|tell (?:me|us)|spill)\b[^.\n]{0,50}\b(?:what you know|everything you (?:know|remember|have)|stored|remember(?:ed)?) about\b",
        r"\b(?:everything|all) (?:you|the assistant) (?:know|knows|remember|remembers|store|stores|ha(?:ve|s) stored) about\b",
        r"\b(?:other|another|every|all) users?'?s? (?:data|profiles?|messages|memory|memories|facts|notes)\b",
        r"\b(?:post|publish|broadcast|announce|share)\b[^.\n]{0,40}\b(?:publicly|to everyone|in (?:the|every|all) (?:channel|channels|workspace)|to (?:the|a) (?:public|team) channel)\b",
        r"\b(?:make|send|issue|perform)\b[^.\n]{0,20}\b(?:a |an )?(?:http|web|get|post) request\b|\bcall (?:this|the following|that) (?:url|endpoint|webhook|api)\b",
        r"\b(?:switch|change|flip) (?:to|into) [^.\n]{0,30}\b(?:mode|persona|personality|character)\b|\b(?:developer|jailbreak|god|unrestricted|dan) mode\b",
        r"\b(?:roleplay|role-play|play the role) as\b|\byou are no longer\b|\bfrom this point (?:on|forward)\b",
    )
]

_INVISIBLE = re.compile(
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def normalised(text: str) -> str:
    """`text` with full-width and styled letters folded (NFKC) and invisible characters dropped."""
    folded = unicodedata.normalize("NFKC", text)
    return _INVISIBLE.sub("", folded)


def _decoded_blobs(text: str) -> list[str]:
    """Texts hidden as base64 inside `text` (decoded when they decode to readable text)."""
    out = []
    for blob in _BASE64.findall(text)[:8]:
        padded = blob + "=" * (-len(blob) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(padded)
                decoded = raw.decode("utf-8")
            except (binascii.Error, ValueError):
                continue
            if decoded.isprintable() and sum(c.isalpha() for c in decoded) > len(decoded) // 2:
                out.append(decoded)
                break
    return out


def _matches(text: str) -> bool:
    return any(p.search(text) for p in INSTRUCTION_PATTERNS) or any(
        p.search(text) for p in OTHER_PATTERNS
    )


def looks_like_instructions(text: str) -> bool:
    """True when a text addresses an assistant with orders (prompt injection).

    Matched on the text as written, on its normalised form (full-width letters,
    zero-width characters) and on any base64 it carries; in English and the common
    European languages.
    """
    if _matches(text):
        return True
    flat = normalised(text)
    if flat != text and _matches(flat):
        return True
    return any(_matches(normalised(hidden)) for hidden in _decoded_blobs(flat))


def _own_fence(item: RecalledItem) -> str:
    # for recalled records without their Item, and for items whose text must be withheld
    withheld = looks_like_instructions(item["text"] + " " + item["title"])
    title = "" if looks_like_instructions(item["title"]) else item["title"].replace("\n", " ")[:160]
    return fence_block(
        WITHHELD if withheld else item["text"], source=item["source"], id=item["id"], title=title
    )


def fence_item(item: RecalledItem, original: Any | None = None) -> str:
    """One recalled item as quoted external text; instruction-bearing text is withheld."""
    if original is None or looks_like_instructions(item["text"] + " " + item["title"]):
        return _own_fence(item)
    return fence(original)


def fence_text(source: str, text: str) -> str:
    """Any other external text (a memory entry, a Slack line) as quoted data."""
    return fence_block(WITHHELD if looks_like_instructions(text) else text, source=source)


def safe_profile_lines(lines: list[str]) -> list[str]:
    """Profile lines without any that carry instructions (stored text is data too)."""
    return [line for line in lines if line.strip() and not looks_like_instructions(line)]
