-- Instance policy for signingscript workers: sign the artifacts of upstream tasks.
-- Select it with `scriptworker --policy policies/signing.lua CONFIG`: the root of
-- every chain this worker verifies is named "signing" and checked as a signing task.
--
-- The product comes from the config's cot_product. To pin one for every
-- worker that uses this file, add for example
--   cot_product = "firefox",
-- (a name from policies/products/); it then wins over the config.
return {
  name = "signing",
  description = "signingscript workers: sign the artifacts of upstream tasks",
  cot_job_type = "signing",
}
