-- The daily upload budget sums the sizes of today's uploads: a covering index, so the sum reads
-- only today's index entries, never the rows (which hold the documents' text).
CREATE INDEX IF NOT EXISTS uploads_created ON uploads(created_at, size);
