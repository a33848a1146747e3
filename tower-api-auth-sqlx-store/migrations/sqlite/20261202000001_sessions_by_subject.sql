-- A login finds its subject's sessions (to keep them within the bound, oldest out first) by
-- this index, in work bounded by the subject's sessions rather than by the table.
CREATE INDEX auth_sessions_subject ON auth_sessions (subject, created_at);
