-- Progress queries list a signed-in citizen's own applications.
CREATE INDEX IF NOT EXISTS applications_citizen ON applications(citizen_id, id);
