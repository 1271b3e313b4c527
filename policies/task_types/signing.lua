-- A signing task holds release secrets, so it may only have run on a
-- scriptworker (VERIFY.md section 5: "must be run from scriptworker").
return {
  name = "signing",
  description = "Signs artifacts of upstream tasks (signingscript)",
  worker_impls = { "scriptworker" },
}
