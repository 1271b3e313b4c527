-- An action task (a decision task triggered by a hook, e.g. from Treeherder):
-- verified like a decision task, but it only publishes task-graph.json; its
-- definition is rebuilt from the decision task's actions.json.
return {
  name = "action",
  description = "Action task: extends a graph on request, verified like a decision task",
  worker_pools = "valid_decision_worker_pools",
  artifacts = { "public/task-graph.json" },
  parent = true,
}
