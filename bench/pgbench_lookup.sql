\set id random(1, 1000000)
SELECT id, name, value, extract(epoch FROM created_at)::float8 * 1e6 FROM bench_items WHERE id = :id::bigint;
