-- A scriptworker task holds release secrets, so it may only have run on a
-- scriptworker (VERIFY.md section 5: "must be run from scriptworker").
return {
  name = "scriptworker",
  description = "A generic scriptworker task (treescript, addonscript, ...)",
  worker_impls = { "scriptworker" },
}
