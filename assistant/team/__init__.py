"""The team deployment (``deployment.profile = "team"``): replicas that share nothing but
one Postgres and one Chroma server.

- `locks`: Postgres advisory locks; one per thread is held around each turn, so two
  replicas never fork a LangGraph checkpoint chain (langgraph issue 8796);
- `checkpoints`: the Postgres checkpointer that carries that per-thread lock;
- `events`: Slack event claims in a Postgres table, so a retry that reaches another
  replica is answered once;
- `leader`: a lease in Postgres that elects one scheduler among the replicas;
- `slots`: one row per (job, scheduled time): a run happens once even across a leader change.

Nothing here is imported on the single-user path.
"""
