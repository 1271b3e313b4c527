-- A beetmover task holds release secrets, so it may only have run on a
-- scriptworker (VERIFY.md section 5: "must be run from scriptworker").
return {
  name = "beetmover",
  description = "Copies artifacts to the release buckets (beetmoverscript)",
  worker_impls = { "scriptworker" },
}
