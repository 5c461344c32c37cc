"""The JudgeAgent: a bounded investigation of one cluster with span tools, by a model or the offline
investigator, ending in trace-cited findings, trace scores and a summary."""
