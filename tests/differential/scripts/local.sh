#!/bin/sh
echo "running on the machine that validates"
