/* A shared library that is not a Strata plugin: it lacks the entry symbol. */
__attribute__((visibility("default"))) int some_other_function(void) { return 42; }
