// Command s3direct uploads or downloads one file straight to an S3 server with the AWS SDK for Go,
// as the baseline bench/s3.sh compares SFTP-to-S3 throughput against.
//
//	s3direct put|get FILE s3://BUCKET/KEY          the SDK's transfer manager (multipart, 8 MiB parts, 5 at once)
//	s3direct putobject|getobject FILE s3://BUCKET/KEY  one PutObject or GetObject request
//	s3direct mb s3://BUCKET
//
// The endpoint and keys come from TRANSFERD_TEST_S3_ENDPOINT, TRANSFERD_TEST_S3_ACCESS_KEY and
// TRANSFERD_TEST_S3_SECRET_KEY (as scripts/s3server.sh env prints them). It prints the seconds the
// transfer took.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "s3direct:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 2 && args[0] == "mb" {
		args = []string{"mb", "", args[1]}
	}
	if len(args) != 3 || !slices.Contains([]string{"put", "get", "putobject", "getobject", "mb"}, args[0]) || !strings.HasPrefix(args[2], "s3://") {
		return fmt.Errorf("usage: s3direct put|get|putobject|getobject FILE s3://BUCKET/KEY, or s3direct mb s3://BUCKET")
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(args[2], "s3://"), "/")
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(os.Getenv("TRANSFERD_TEST_S3_ENDPOINT")),
		UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(os.Getenv("TRANSFERD_TEST_S3_ACCESS_KEY"),
			os.Getenv("TRANSFERD_TEST_S3_SECRET_KEY"), ""),
	})
	ctx := context.Background()
	start := time.Now()
	switch args[0] {
	case "mb":
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
			return err
		}
	case "put":
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := transfermanager.New(client).UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &bucket, Key: &key, Body: f}); err != nil {
			return err
		}
	case "get":
		f, err := os.Create(args[1])
		if err != nil {
			return err
		}
		if _, err := transfermanager.New(client).DownloadObject(ctx, &transfermanager.DownloadObjectInput{Bucket: &bucket, Key: &key, WriterAt: f}); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	case "putobject":
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: f, ContentLength: aws.Int64(fi.Size())}); err != nil {
			return err
		}
	case "getobject":
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		f, err := os.Create(args[1])
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, out.Body); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	fmt.Printf("%.3f\n", time.Since(start).Seconds())
	return nil
}
