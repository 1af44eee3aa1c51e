# Modules each fuzz target links (paths under src/, without .c); jansson comes from the
# Makefile's libraries. fuzz_<name>_PKGS: pkg-config packages for that target only.
fuzz_qs_DEPS     := core/qs core/params core/timefmt core/mem core/buf
fuzz_time_DEPS   := core/timefmt
fuzz_router_DEPS := core/router core/qs core/mem core/buf
fuzz_json_DEPS   := core/jsonw core/buf core/mem core/timefmt core/utf8
fuzz_jwt_DEPS    := core/jwt core/buf core/mem
fuzz_quake_feature_DEPS := apps/quakes/feature core/jsonw core/buf core/mem core/timefmt core/utf8
fuzz_quake_cursor_DEPS := apps/quakes/cursor core/jwt core/buf core/mem
fuzz_quakeml_DEPS := apps/quakes/quakeml core/buf core/mem core/timefmt core/utf8
fuzz_quakeml_PKGS := libxml-2.0
fuzz_accept_DEPS := core/accept
fuzz_fdsn_params_DEPS := apps/quakes/fdsn_params apps/quakes/filter core/params core/qs core/timefmt core/mem core/buf
fuzz_quake_collection_DEPS := apps/quakes/collection core/mem
