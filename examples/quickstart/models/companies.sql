-- One row per customer account, with monthly recurring revenue.
select
  c.company_id,
  c.name,
  c.plan,
  c.employees,
  c.mrr,
  c.created_at,
  c.industry
from companies c
