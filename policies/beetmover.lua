-- Instance policy for beetmoverscript workers: copy release artifacts to their buckets.
-- Select it with `scriptworker --policy policies/beetmover.lua CONFIG`: the root of
-- every chain this worker verifies is named "beetmover" and checked as a beetmover task.
--
-- The product comes from the config's cot_product. To pin one for every
-- worker that uses this file, add for example
--   cot_product = "firefox",
-- (a name from policies/products/); it then wins over the config.
return {
  name = "beetmover",
  description = "beetmoverscript workers: copy release artifacts to their buckets",
  cot_job_type = "beetmover",
}
