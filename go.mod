module github.com/flowtune/flowtune

go 1.26.0

require (
	github.com/mattn/go-isatty v0.0.20
	github.com/mumax/3 v0.0.0-20261020084628-54efa12420b2
	github.com/rs/zerolog v1.35.1
	golang.org/x/image v0.23.0
	golang.org/x/sync v0.24.0
	golang.org/x/sys v0.29.0
	gopkg.in/yaml.v3 v3.0.1
)

require github.com/mattn/go-colorable v0.1.14 // indirect
