# Modules each unit test links (paths under src/, without .c): the module under test and
# what it truly uses, nothing more. test_<name>_PKGS: pkg-config packages for that test only.
test_jsonw_DEPS   := core/jsonw core/buf core/mem core/timefmt core/utf8
test_qs_DEPS      := core/qs core/mem core/buf
test_timefmt_DEPS := core/timefmt
test_problem_DEPS := core/problem core/jsonw core/buf core/mem core/timefmt core/utf8
test_params_DEPS  := core/params core/qs core/timefmt core/mem core/buf
test_router_DEPS  := core/router core/qs core/mem core/buf
test_openapi_DEPS := core/openapi core/router core/params core/qs core/timefmt core/jsonw core/problem core/buf core/mem core/utf8
test_jwt_DEPS     := core/jwt core/buf core/mem
test_ratelimit_DEPS := core/ratelimit core/mem
test_quake_feature_DEPS := apps/quakes/feature core/jsonw core/buf core/mem core/timefmt core/utf8
test_quake_cursor_DEPS := apps/quakes/cursor core/jwt core/buf core/mem
test_quake_filter_DEPS := apps/quakes/filter core/params core/qs core/timefmt core/mem core/buf
test_quakeml_DEPS := apps/quakes/quakeml core/buf core/mem core/timefmt core/utf8
test_quakeml_PKGS := libxml-2.0
test_accept_DEPS := core/accept
test_quake_collection_DEPS := apps/quakes/collection core/mem
