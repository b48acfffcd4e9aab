DROP TABLE assertion_jtis;
