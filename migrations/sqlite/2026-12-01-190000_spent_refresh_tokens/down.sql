DROP TABLE staff_spent_refresh;
