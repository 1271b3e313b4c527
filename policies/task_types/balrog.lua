-- A balrog task holds release secrets, so it may only have run on a
-- scriptworker (VERIFY.md section 5: "must be run from scriptworker").
return {
  name = "balrog",
  description = "Publishes update information to Balrog (balrogscript)",
  worker_impls = { "scriptworker" },
}
