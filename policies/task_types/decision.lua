-- The decision task of a graph (VERIFY.md section 5, verify_parent_task): it
-- must run in one of the product's decision pools; the engine downloads its
-- task graph, actions and parameters, checks every child against
-- task-graph.json and rebuilds its definition from .taskcluster.yml (cot v2).
return {
  name = "decision",
  description = "Decision task: creates the task graph from the repository's .taskcluster.yml",
  worker_pools = "valid_decision_worker_pools",
  artifacts = { "public/task-graph.json", "public/actions.json", "public/parameters.yml" },
  parent = true,
}
