-- Python's scriptworker makes no task-type check for partials tasks (VERIFY.md
-- section 5): their trust comes from the task graph, the worker
-- implementation's checks and the trace back to the tree.
return {
  name = "partials",
  description = "Generates partial update MAR files",
}
