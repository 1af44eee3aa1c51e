\set id random(1, 1000000)
SELECT id, name, value, (extract(epoch FROM created_at) * 1000000)::bigint FROM bench_items WHERE id = :id::bigint;
