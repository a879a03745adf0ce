"""What a viewer may do with a case now: the lifecycle's table, the case's facts and the policy together.

``available_actions`` is what ``Complaint.availableActions`` answers, so an SPA draws its buttons from one
field; ``decide`` is ``canI`` on a complaint: Casbin's answer, refused still where a four-eyes rule of the
lifecycle refuses this person (a rule no policy can switch off).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import authz
from services.core.complaints import lifecycle
from services.core.complaints.models import Complaint
from services.core.complaints.steps import load_facts


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: authz.Rule | None
    reason: str
    code: str | None = None
    """the userError code a refused step would give (SEPARATION_OF_DUTIES for four eyes), when not the policy"""


async def available_actions(
    session: AsyncSession, subject: authz.Subject, complaint_id: uuid.UUID, now: datetime,
) -> list[lifecycle.Step] | None:
    """The steps this subject may take on the case now (None: no such complaint, or not readable)."""
    complaint = await session.get(Complaint, complaint_id)
    if complaint is None:
        return None
    facts = await load_facts(session, complaint, now)
    candidates = lifecycle.possible(facts)
    decisions = await authz.decisions_on_complaint(session, subject, [s.permission for s in candidates],
                                                   complaint_id)
    if decisions is None:
        return None
    return [s for s in candidates if decisions[s.permission].allowed
            and (s.person is None or s.person(facts, subject.user_id) is None)]


async def decide(
    session: AsyncSession, subject: authz.Subject, action: str, complaint_id: uuid.UUID | None, now: datetime,
) -> Verdict | None:
    """``canI``: the policy's decision, and on a complaint the lifecycle's four-eyes rules for this person."""
    decision = await authz.decide_on_complaint(session, subject, action, complaint_id)
    if decision is None:
        return None
    if decision.allowed and complaint_id is not None:
        complaint = await session.get(Complaint, complaint_id)
        if complaint is not None:
            facts = await load_facts(session, complaint, now)
            refused = lifecycle.person_refusal(action, facts, subject.user_id)
            if refused is not None:
                return Verdict(False, None, refused.message, refused.code.value)
    return Verdict(decision.allowed, decision.rule, decision.reason)
