-- One row per user: lifetime value, end of trial, date they became active,
-- session counts over the last 7 and 30 days, and the audiences the user is in
-- (synced as Intercom tags: Intercom's API cannot build segments, a tag can
-- drive its messages and inbox rules). SQLite has no arrays, so the audiences
-- are text separated by commas; an array column works the same elsewhere.
select
  u.id,
  u.email,
  u.full_name,
  u.signed_up_at,
  coalesce((select sum(p.amount) from payments p where p.user_id = u.id), 0.0) as ltv,
  u.trial_ends_at,
  u.became_active_at,
  (select count(*) from sessions s where s.user_id = u.id and s.started_at >= date('2026-11-29', '-7 days')) as sessions_7d,
  (select count(*) from sessions s where s.user_id = u.id and s.started_at >= date('2026-11-29', '-30 days')) as sessions_30d,
  u.company_id,
  (case when u.trial_ends_at < date('2026-11-29', '+14 days') then 'trial ending soon,' else '' end)
    || (case when not exists (select 1 from sessions s where s.user_id = u.id and s.started_at >= date('2026-11-29', '-7 days'))
        then 'churn risk' else '' end) as audiences
from app_users u
