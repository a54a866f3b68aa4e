"""What the nightly self-probe costs, estimated from a measurement, so it fits a stated budget.

The calibration is one measured grid run of bench/probe_tradeoff.py on the bundled model
(README, "Measured on the default model"): CPU seconds per case and drift control for
8 rounds at the default reply budgets. Self-chat re-reads the whole conversation at each
step, so the cost grows with rounds about as rounds * (rounds + 3) (the first term reads the
prompt, the second the growing chat), and about linearly with the reply budgets.
"""

from __future__ import annotations

from assistant.config import Settings

# Measured 2026-11-30: 306 CPU s for 34 cases under stock attention (305-308 under split-softmax),
# 8 rounds, A/B/probe budgets 16/12/12 tokens, one batch, one torch thread, on a busy
# shared machine (contention inflates CPU time, so this errs high).
CPU_S_PER_CASE_CONTROL = 9.0
CALIBRATED_ROUNDS = 8
CALIBRATED_TOKENS = 16 + 12 + 12
BUDGET_S = 600.0  # the nightly run's budget: 10 minutes on 2 cores
CORES = 2
PARALLEL_EFFICIENCY = 0.75  # two torch threads do not halve the time


# The shipped "sifeval" cases answer with 48 tokens instead of probes.probe_max_new_tokens
# (assistant/probes/data/sifeval.toml; a test keeps the two equal).
SIFEVAL_PROBE_TOKENS = 48


def _rounds_factor(rounds: int) -> float:
    return rounds * (rounds + 3) / (CALIBRATED_ROUNDS * (CALIBRATED_ROUNDS + 3))


def nightly_cpu_seconds(settings: Settings) -> float:
    """Estimated CPU seconds of one nightly run with these settings."""
    from assistant.probes.controls import parse_controls

    p = settings.probes
    cases = p.cases + len(settings.persona.probes)
    controls = len(parse_controls(p.controls, settings))
    chat = p.max_new_tokens + p.partner_max_new_tokens
    tokens = (chat + p.probe_max_new_tokens) / CALIBRATED_TOKENS
    if "sifeval" in p.families:
        # the family-balanced sample gives each named family an equal share of the cases
        share = 1 / len(set(p.families))
        tokens = (1 - share) * tokens + share * (chat + max(SIFEVAL_PROBE_TOKENS, p.probe_max_new_tokens)) / CALIBRATED_TOKENS
    return CPU_S_PER_CASE_CONTROL * cases * controls * _rounds_factor(p.rounds) * tokens


def nightly_cost_line(settings: Settings) -> str:
    """One line for `assistant jobs`: what runs, about how long, and whether it fits the budget."""
    from assistant.probes.controls import parse_controls

    p = settings.probes
    cases = p.cases + len(settings.persona.probes)
    controls = len(parse_controls(p.controls, settings))
    wall = nightly_cpu_seconds(settings) / (CORES * PARALLEL_EFFICIENCY)
    fits = "within" if wall <= BUDGET_S else "OVER"
    return (f"{cases} checks x {controls} settings x {p.rounds} rounds, about {max(wall / 60, 1):.0f} min "
            f"on {CORES} cores, {fits} its {BUDGET_S / 60:.0f} min budget")  # fmt: skip
