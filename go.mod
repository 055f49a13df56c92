module github.com/flowtune/flowtune

go 1.26
