-- A pushapk task holds release secrets, so it may only have run on a
-- scriptworker (VERIFY.md section 5: "must be run from scriptworker").
return {
  name = "pushapk",
  description = "Publishes Android packages to the stores (pushapkscript)",
  worker_impls = { "scriptworker" },
}
