"""The fair dispatcher: which queued experiments get the free worker slots, and a queued
experiment's place in line. Shared by the API (a round right after a submit or a retry) and the
worker's `silab.maintain` (a round every dispatch interval).

The model (docs/design.md, "Scheduling"):
- The pool has `slots` worker processes (SILAB_WORKER_SLOTS). A slot is busy while an experiment
  runs on it, or while a message for a queued experiment is on its way (sent less than
  `resend_after_s` ago and not yet claimed). Only `slots - busy` messages are sent per round, so
  the order of the broker's queue never decides anything: this package does.
- Strict priority between levels (higher first). Within a level users take turns: the next slot
  goes to the user with the fewest busy slots, then the one handed a slot least recently, then
  the one whose oldest waiting experiment is oldest; FIFO (by id) within one user. A user at
  their running limit (account.max_running, else the lab default) is skipped; a lower level may
  then use the slot (the pool never idles while someone can run).
- Groups (docs/design.md, "Groups, claims and warm workers"): a group is the longest prefix of
  the fair order whose members share the head's `shape_key`, capped by `GroupLimits`
  (SILAB_GROUP_MAX_EXPERIMENTS experiments, SILAB_GROUP_MEMORY_GB summed memory estimates). A
  group holds one slot and travels as one message. Because a group is always a prefix of what is
  left of the fair order, the started experiments are always a prefix of the fair order: nobody
  jumps a higher priority or a user whose turn it is. The fair order counts every member as one
  experiment (turns and running limits count experiments); only the slot count counts groups.
- A round is serialized (an advisory lock on PostgreSQL, the write lock on SQLite): the chosen
  experiments are marked dispatched and committed BEFORE they are sent, and unmarked when the
  broker refuses them, so two concurrent rounds never hand out the same slot twice.

The modules: pool (busy slots and limits), turns (the fair-turn rule), fair_order (the waiting
experiments in that order), groups (what to send now), positions (a place in line) and rounds
(mark, commit, send). Nothing here commits except `dispatch_round`, which owns its sessions.
Callers import the names below from `db.scheduler`.
"""

from db.scheduler.groups import GroupLimits, plan_groups
from db.scheduler.pool import Pool, pool_state
from db.scheduler.positions import Position, position
from db.scheduler.rounds import dispatch_round, lock_round
from db.scheduler.turns import Turns

__all__ = [
    "GroupLimits",
    "Pool",
    "Position",
    "Turns",
    "dispatch_round",
    "lock_round",
    "plan_groups",
    "pool_state",
    "position",
]
